/**
 * The dashboards and the rules against a real Prometheus (Debian's): it
 * scrapes scaph-host qemu --prometheus measuring two real qemu VMs, and
 * scaph-guest reading one VM's tree, with deploy/prometheus's own config and
 * rules. Every query of every panel, its variables substituted as Grafana
 * would, must return a series; every variable's label_values must find its
 * label; the recording rules' outputs must be there.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { guestBin, hostBin, repoRoot } from "../helpers/cli.js";
import { dashboardsWithoutData } from "../helpers/dashboards.js";
import type { QueryResult } from "../helpers/dashboards.js";
import { startBusyHost } from "../helpers/busy-host.js";
import { cleanupsAfterFile, freePort, startBackground, startBusyQemu, waitFor, writeBusyBootSector } from "../helpers/processes.js";
import { requireCommand } from "@scaph/test-support";

const { stops, bg } = cleanupsAfterFile();

test("every dashboard panel and variable has data from a real Prometheus; the recording rules give theirs", async () => {
  const prometheus = requireCommand("prometheus", "prometheus");
  const h = await startBusyHost("dash-vm-1", [
    { zone: "intel-rapl:0", watts: 30 },
    { zone: "intel-rapl:0:2", watts: 5 },
  ]);
  stops.push(() => h.stop());
  await writeBusyBootSector(join(h.dir, "boot-2.img")); // its own disk: qemu locks the first VM's
  bg(startBusyQemu("dash-vm-2", join(h.dir, "boot-2.img")));
  const base = join(h.dir, "trees");
  const hostPort = await freePort();
  const daemon = bg(
    startBackground(process.execPath, [
      hostBin,
      "-v",
      "qemu",
      "--no-libvirt",
      "--prometheus",
      "-a",
      "127.0.0.1",
      "-p",
      String(hostPort),
      "--base-dir",
      base,
      "--step",
      "1",
      "--powercap-path",
      h.powercap,
    ]),
  );
  await waitFor(
    "the VMs' trees",
    () => {
      try {
        readFileSync(join(base, "dash-vm-1", "intel-rapl:0", "energy_uj"));
        return true;
      } catch {
        return null;
      }
    },
    30_000,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n--- scaph-host qemu:\n${daemon.output().slice(-3000)}`);
  });
  const guestPort = await freePort();
  bg(
    startBackground(process.execPath, [
      guestBin,
      "prometheus",
      "-a",
      "127.0.0.1",
      "-p",
      String(guestPort),
      "--step",
      "1",
      "--no-channel",
      "--powercap-path",
      join(base, "dash-vm-1"),
    ]),
  );

  // deploy/prometheus as shipped, its targets filled in and its intervals at 1 s
  const dir = mkdtempSync(join(tmpdir(), "scaph-dash-"));
  stops.push(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(repoRoot, "deploy/prometheus"), join(dir, "prometheus"), { recursive: true });
  const config = join(dir, "prometheus", "prometheus.yml");
  const c = parse(readFileSync(config, "utf8")) as { global: Record<string, string> };
  c.global.scrape_interval = "1s";
  c.global.evaluation_interval = "1s";
  writeFileSync(config, stringify(c));
  writeFileSync(join(dir, "prometheus", "targets", "scaph-host.json"), JSON.stringify([{ targets: [`127.0.0.1:${hostPort}`] }]));
  writeFileSync(join(dir, "prometheus", "targets", "scaph-guest.json"), JSON.stringify([{ targets: [`127.0.0.1:${guestPort}`] }]));
  const promPort = await freePort();
  const prom = bg(
    startBackground(prometheus, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${promPort}`]),
  );
  const api = `http://127.0.0.1:${promPort}/api/v1`;
  const query = async (q: string): Promise<QueryResult> => (await (await fetch(`${api}/query?query=${encodeURIComponent(q)}`)).json()) as QueryResult;
  const count = async (q: string): Promise<number> => (await query(q)).data?.result?.length ?? 0;

  // both VMs measured, both jobs up, and a few scrapes for the ranges
  await waitFor("both VMs' power in Prometheus", async () => ((await count("scaph_vm_power_microwatts > 0")) >= 2 ? true : null), 60_000).catch(
    (err: unknown) => {
      throw new Error(`${String(err)}\n--- prometheus:\n${prom.output().slice(-3000)}`);
    },
  );
  await waitFor("both jobs up", async () => ((await count("up == 1")) === 2 ? true : null), 30_000);
  await waitFor("a few samples of each", async () => ((await count("count_over_time(scaph_host_power_microwatts[1m]) >= 4")) === 2 ? true : null), 30_000);

  const { empty, queries } = await dashboardsWithoutData("hypervisor", api);
  assert.deepEqual(empty, [], `panels or variables without data:\n${empty.join("\n")}`);
  assert.ok(queries >= 25, `${queries} queries checked`);

  // the recording rules, loaded from the shipped config, and their outputs
  assert.equal(await count("vmname_instance:scaph_vm_power:watts"), 2);
  assert.equal(await count("job_instance:scaph_host_power:watts"), 2, "one per job: the hypervisor and the guest");
  await waitFor("the daily VM energy", async () => ((await count("vmname_instance:scaph_vm_energy_joules:increase1d > 0")) === 2 ? true : null), 20_000);
  // the shipped config's host label (the target's name, its port cut) feeds the fleet rules
  await waitFor(
    "the fleet rules' per-host power",
    async () => ((await count('host:scaph_host_power:watts{host="127.0.0.1"} > 0')) === 1 ? true : null),
    20_000,
  );
  const rules = (await (await fetch(`${api}/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; type: string }[] }[] } };
  const all = rules.data.groups.flatMap((g) => g.rules);
  assert.deepEqual(
    all
      .filter((r) => r.type === "alerting")
      .map((r) => r.name)
      .sort(),
    ["ScaphExporterDown", "ScaphMeasurementStalled", "ScaphVmEnergyNotDelivered"],
  );
  assert.ok(
    all.every((r) => r.health === "ok"),
    JSON.stringify(all),
  );
});
