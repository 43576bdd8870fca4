import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireCommand } from "@scaph/test-support";
import { startBusyHost } from "../helpers/busy-host.js";
import { guestBin, hostBin } from "../helpers/cli.js";
import { freePort, sleep, startBackground, waitFor } from "../helpers/processes.js";
import { sample, scrapeAfter, startExporter } from "../helpers/scrape.js";

test("a real Prometheus server scrapes scaph-guest; its API returns the series and values", async () => {
  const prom = requireCommand("prometheus", "prometheus");
  const tree = await copyFixture("powercap/vm-tree");
  const dir = await mkdtemp(join(tmpdir(), "scaph-prom-"));
  const port = await freePort();
  const promPort = await freePort();
  const { bg, url } = await startExporter([guestBin, "prometheus", "-a", "127.0.0.1", "-p", String(port), "--powercap-path", tree]);
  await writeFile(
    join(dir, "prometheus.yml"),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: scaph-guest\n    static_configs:\n      - targets: ["127.0.0.1:${port}"]\n`,
  );
  const server = startBackground(prom, [
    `--config.file=${join(dir, "prometheus.yml")}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
  try {
    void url;
    const sim = new PowerSimulator({
      powercapRoot: tree,
      zones: [
        { zone: "intel-rapl:0", watts: 12 },
        { zone: "intel-rapl:0:1", watts: 3 },
      ],
    });
    sim.start();
    try {
      const api = `http://127.0.0.1:${promPort}/api/v1/query?query=`;
      const result = await waitFor(
        "Prometheus to have scraped scaph-guest twice",
        async () => {
          const r = (await (await fetch(api + encodeURIComponent("scaph_host_power_microwatts"))).json()) as {
            data: { result: { metric: Record<string, string>; value: [number, string] }[] };
          };
          const v = r.data.result[0];
          return v && Number(v.value[1]) > 0 ? v : null;
        },
        30_000,
      );
      assert.equal(result.metric.job, "scaph-guest");
      assert.equal(result.metric.value_source, "powercap_rapl_pkg");
      // 12 W package + 3 W dram, measured between scrapes.
      assert.ok(Math.abs(Number(result.value[1]) - 15e6) < 1.5e6, `power ${result.value[1]} µW`);
      const up = (await (await fetch(api + "up")).json()) as { data: { result: { value: [number, string] }[] } };
      assert.equal(up.data.result[0]?.value[1], "1");
      const rate = (await (await fetch(api + encodeURIComponent("scaph_host_energy_joules_total"))).json()) as { data: { result: unknown[] } };
      assert.equal(rate.data.result.length, 1);
    } finally {
      await sim.stop();
    }
  } finally {
    await server.stop();
    await bg.stop();
    await removeTree(tree);
    await rm(dir, { recursive: true, force: true });
  }
});

test("guest and host both real: the guest's energy gain equals the tree's gain, which the host attributed", async () => {
  const h = await startBusyHost("scaph-hg", [
    { zone: "intel-rapl:0", watts: 25 },
    { zone: "intel-rapl:0:2", watts: 5 },
  ]);
  const { dir, powercap } = h;
  const base = join(dir, "base");
  const host = startBackground(process.execPath, [hostBin, "qemu", "--no-libvirt", "--base-dir", base, "--step", "0.3", "--powercap-path", powercap]);
  const tree = join(base, "scaph-hg");
  let guest: Awaited<ReturnType<typeof startExporter>> | null = null;
  try {
    await waitFor("the whole VM tree", async () =>
      (await readFile(join(tree, "intel-rapl:0", "energy_uj"), "utf8").catch(() => "0")) !== "0\n" ? true : null,
    );
    const port = await freePort();
    guest = await startExporter([guestBin, "prometheus", "-a", "127.0.0.1", "-p", String(port), "--step", "0.2", "--powercap-path", tree]);
    const treeTotal = async (): Promise<number> =>
      Number(await readFile(join(tree, "intel-rapl:0", "energy_uj"), "utf8")) + Number(await readFile(join(tree, "intel-rapl:0:2", "energy_uj"), "utf8"));
    // Freeze the host between a scrape and a read of the tree, so both see the same counters.
    // The guest times a reading by the host's clock (the time each energy_uj was written, its mtime):
    // once it has read the frozen tree, its scaph_host_energy_timestamp_seconds is that time.
    const consistent = async (): Promise<[number, number]> => {
      host.child.kill("SIGSTOP");
      await sleep(100);
      try {
        const frozenMs = Math.max(
          ...(await Promise.all(["intel-rapl:0", "intel-rapl:0:2"].map((z) => stat(join(tree, z, "energy_uj"))))).map((s) => s.mtimeMs),
        );
        const body = await scrapeAfter(guest!.url, frozenMs - 1, 15_000, "scaph_host_energy_timestamp_seconds");
        return [sample(body, "scaph_host_energy_microjoules") ?? NaN, await treeTotal()];
      } finally {
        host.child.kill("SIGCONT");
      }
    };
    // the guest's first Snapshot needs two readings of a moving tree: taken while the host runs
    await scrapeAfter(guest.url, 0, 15_000, "scaph_host_energy_timestamp_seconds");
    const [g1, t1] = await consistent();
    await sleep(2000);
    const [g2, t2] = await consistent();
    assert.ok(t2 - t1 > 0, "the host attributed energy to the busy VM");
    assert.equal(g2 - g1, t2 - t1, `guest gain (µJ) = tree gain (µJ); guest log:\n${guest.bg.output()}`);
  } finally {
    await guest?.bg.stop();
    await host.stop();
    await h.stop();
  }
});
