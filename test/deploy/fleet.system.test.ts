/**
 * A fleet's series in a real TSDB: three scaph-host qemu --prometheus
 * daemons, each scraped by its own Prometheus in agent mode (the shipped
 * deploy/prometheus/agent config and the flags of its systemd drop-in),
 * every agent remote-writing to one VictoriaMetrics (Debian's), and
 * vmalert evaluating the shipped fleet rules there. VM web-1 of project
 * shop migrates from hv-1 to hv-2 partway.
 *
 * The hosts' kernels and libvirtds are stand-ins (helpers/synthetic-hypervisor.ts:
 * a /proc and a RAPL tree that a simulator moves, libvirt's test driver with
 * Nova's metadata): what is proved here is the path of the series from the
 * exporters to the fleet's answers. The truth each answer is held to is
 * what the exporters themselves counted, read from their own pages.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { requireCommand } from "@scaph/test-support";
import { hostBin, repoRoot } from "../helpers/cli.js";
import { cleanupsAfterFile, freePort, startBackground, waitFor } from "../helpers/processes.js";
import { dashboardsWithoutData } from "../helpers/dashboards.js";
import { SyntheticHypervisor } from "../helpers/synthetic-hypervisor.js";
import type { SyntheticVm } from "../helpers/synthetic-hypervisor.js";

const { stops, bg } = cleanupsAfterFile();

const WEB: SyntheticVm = { name: "web-1", uuid: "aaaaaaaa-0000-4000-8000-000000000001", project: "shop", cpus: 0.4 };
const DB: SyntheticVm = { name: "db-1", uuid: "aaaaaaaa-0000-4000-8000-000000000002", project: "shop", cpus: 0.6 };
const CI: SyntheticVm = { name: "ci-1", uuid: "aaaaaaaa-0000-4000-8000-000000000003", project: "lab", cpus: 0.3 };
const CI2: SyntheticVm = { name: "ci-2", uuid: "aaaaaaaa-0000-4000-8000-000000000004", project: "lab", cpus: 0.5 };

/** Every sample of a Prometheus text page, as `name{labels}` → value. */
function samples(body: string, metric: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split("\n")) {
    if (!line.startsWith(metric + "{")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

const labelOf = (series: string, label: string): string | undefined => new RegExp(`[{,]${label}="([^"]*)"`).exec(series)?.[1];

interface VmResult {
  status: string;
  data?: { result?: { metric: Record<string, string>; value: [number, string] }[] };
}

test(
  "a fleet in VictoriaMetrics: per-VM energy across a migration and per-tenant and per-host energy equal what the exporters counted, within 1 %",
  { timeout: 600_000 },
  async () => {
    const vmBin = requireCommand("victoria-metrics", "victoria-metrics");
    const vmalert = requireCommand("vmalert", "victoria-metrics");
    const prometheus = requireCommand("prometheus", "prometheus");
    const dir = mkdtempSync(join(tmpdir(), "scaph-fleet-"));
    stops.push(() => rmSync(dir, { recursive: true, force: true }));

    // the TSDB: no latency offset and no cache, so that a query sees what was written a second before
    const tsdbPort = await freePort();
    const tsdb = `http://127.0.0.1:${tsdbPort}`;
    const vm = bg(
      startBackground(vmBin, [
        `-storageDataPath=${join(dir, "tsdb")}`,
        `-httpListenAddr=127.0.0.1:${tsdbPort}`,
        "-search.latencyOffset=1s",
        "-search.disableCache",
        "-retentionPeriod=1d",
      ]),
    );
    await waitFor("VictoriaMetrics", async () => ((await fetch(`${tsdb}/health`).catch(() => null))?.ok ? true : null), 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n--- victoria-metrics:\n${vm.output().slice(-3000)}`);
    });

    // and a central Prometheus receiving the same remote_write, with the fleet rules: the Fleet dashboard's panels are asked of it
    const promPort = await freePort();
    const promApi = `http://127.0.0.1:${promPort}/api/v1`;
    mkdirSync(join(dir, "central"));
    cpSync(join(repoRoot, "deploy/prometheus/rules/scaph-fleet.yml"), join(dir, "central", "scaph-fleet.yml"));
    writeFileSync(join(dir, "central", "prometheus.yml"), stringify({ global: { evaluation_interval: "1s" }, rule_files: ["scaph-fleet.yml"] }));
    const central = bg(
      startBackground(prometheus, [
        `--config.file=${join(dir, "central", "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "central", "data")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        "--web.enable-remote-write-receiver",
      ]),
    );
    await waitFor(
      "the central Prometheus",
      async () => ((await fetch(`http://127.0.0.1:${promPort}/-/ready`).catch(() => null))?.ok ? true : null),
      30_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n--- prometheus:\n${central.output().slice(-3000)}`);
    });

    // three hosts: web-1 and ci-1 on hv-1, db-1 on hv-3, ci-2 on hv-2; hv-2's libvirt knows web-1 too (its migration's destination)
    const hosts = [
      { name: "hv-1", hv: new SyntheticHypervisor(join(dir, "hv-1"), 40, 0.2, [WEB, CI]), runs: [WEB, CI] },
      { name: "hv-2", hv: new SyntheticHypervisor(join(dir, "hv-2"), 30, 0.1, [WEB, CI2]), runs: [CI2] },
      { name: "hv-3", hv: new SyntheticHypervisor(join(dir, "hv-3"), 50, 0.3, [DB]), runs: [DB] },
    ];
    const agentConf = readFileSync(join(repoRoot, "deploy/prometheus/agent/scaph-agent.yml"), "utf8");
    const dropIn = readFileSync(join(repoRoot, "deploy/prometheus/agent/prometheus.service.d/scaph-agent.conf"), "utf8");
    // the drop-in's own flags, but this test's paths and port
    const execStart = /^ExecStart=(\S+) (.+)$/m.exec(dropIn);
    assert.ok(execStart, "the drop-in starts prometheus");
    const agentFlags = execStart[2]!.split(" ").filter((f) => !/^--(config\.file|storage\.agent\.path|web\.listen-address)=/.test(f));
    assert.ok(agentFlags.includes("--enable-feature=agent,expand-external-labels"), agentFlags.join(" "));
    assert.match(dropIn, /^Environment=SCAPH_HOST=%H$/m);

    const pages: string[] = [];
    for (const h of hosts) {
      stops.push(() => h.hv.stop());
      for (const v of h.runs) await h.hv.runVm(v);
      await h.hv.prepare(); // still until every agent delivers: a TSDB's first sample of each counter is then 0
      const port = await freePort();
      const daemon = bg(
        startBackground(process.execPath, [
          hostBin,
          "qemu",
          "--prometheus",
          "-a",
          "127.0.0.1",
          "-p",
          String(port),
          "--step",
          "1",
          "--procfs-path",
          h.hv.proc,
          "--powercap-path",
          h.hv.powercapPath,
          "--connect",
          `test://${h.hv.libvirtXml}`,
          "--base-dir",
          join(h.hv.dir, "trees"),
          "--cgroup-path",
          join(h.hv.dir, "no-cgroup"),
        ]),
      );
      pages.push(`http://127.0.0.1:${port}/metrics`);
      // the shipped agent config: its target this daemon, its remote_write the TSDB, 1 s scrapes
      const c = parse(agentConf) as {
        global: { scrape_interval: string };
        scrape_configs: { static_configs: { targets: string[] }[] }[];
        remote_write: { url: string; queue_config?: unknown }[];
      };
      c.global.scrape_interval = "1s";
      c.scrape_configs[0]!.static_configs[0]!.targets = [`127.0.0.1:${port}`];
      c.remote_write[0]!.url = `${tsdb}/api/v1/write`;
      c.remote_write[0]!.queue_config = { batch_send_deadline: "1s" };
      c.remote_write.push({ ...c.remote_write[0]!, url: `http://127.0.0.1:${promPort}/api/v1/write` });
      const conf = join(h.hv.dir, "agent.yml");
      writeFileSync(conf, stringify(c));
      const agent = bg(
        startBackground(
          prometheus,
          [...agentFlags, `--config.file=${conf}`, `--storage.agent.path=${join(h.hv.dir, "agent")}`, `--web.listen-address=127.0.0.1:${await freePort()}`],
          { ...process.env, SCAPH_HOST: h.name },
        ),
      );
      await waitFor(
        `${h.name}'s VMs in its exporter`,
        async () => {
          const body = await fetch(pages[pages.length - 1]!)
            .then((r) => r.text())
            .catch(() => "");
          return h.runs.every((v) => body.includes(`uuid="${v.uuid}"`)) ? true : null;
        },
        60_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n--- scaph-host qemu (${h.name}):\n${daemon.output().slice(-3000)}\n--- agent:\n${agent.output().slice(-1500)}`);
      });
    }

    const query = async (q: string, api = `${tsdb}/api/v1`): Promise<Map<string, number>> => {
      const r = (await (await fetch(`${api}/query?query=${encodeURIComponent(q)}`)).json()) as VmResult;
      if (r.status !== "success") throw new Error(`${q}: ${JSON.stringify(r)}`);
      return new Map((r.data?.result ?? []).map((x) => [JSON.stringify(x.metric), Number(x.value[1])]));
    };
    // every host's counters at 0 in both TSDBs, then the hosts' energy and CPU time move
    for (const [what, api] of [
      ["VictoriaMetrics", `${tsdb}/api/v1`],
      ["the central Prometheus", promApi],
    ] as const) {
      await waitFor(
        `every host's first samples in ${what}`,
        async () => ((await query("scaph_host_energy_microjoules", api)).size === hosts.length ? true : null),
        60_000,
      );
    }
    for (const h of hosts) await h.hv.start();

    // vmalert evaluates the fleet rules in the TSDB and writes their series back to it
    const rules = join(dir, "scaph-fleet.yml");
    const alertPort = await freePort();
    cpSync(join(repoRoot, "deploy/prometheus/rules/scaph-fleet.yml"), rules);
    const alert = bg(
      startBackground(vmalert, [
        `-rule=${rules}`,
        `-datasource.url=${tsdb}`,
        `-remoteWrite.url=${tsdb}`,
        "-evaluationInterval=2s",
        `-httpListenAddr=127.0.0.1:${alertPort}`,
      ]),
    );
    await waitFor(
      "vmalert",
      async () => {
        if (alert.child.exitCode !== null) throw new Error(`vmalert exited ${alert.child.exitCode}: ${alert.output().slice(-2000)}`);
        return (await fetch(`http://127.0.0.1:${alertPort}/health`).catch(() => null))?.ok ? true : null;
      },
      30_000,
    );

    // the truth: each exporter's counters, read from its own page all along (a VM gone from a host leaves its page later)
    const truth = new Map<string, number>(); // `${host} ${series}` → last value
    const read = async (): Promise<void> => {
      for (const [i, url] of pages.entries()) {
        const body = await fetch(url).then((r) => r.text());
        for (const m of ["scaph_vm_energy_joules_total", "scaph_host_energy_microjoules"]) {
          for (const [series, v] of samples(body, m)) truth.set(`${hosts[i]!.name} ${series}`, v);
        }
      }
    };
    const reader = setInterval(() => void read().catch(() => {}), 250);
    stops.push(() => clearInterval(reader));

    const energyOf = async (uuid: string): Promise<number> => (await query(`sum(scaph_vm_energy_joules_total{uuid="${uuid}"})`)).values().next().value ?? 0;

    // web-1 on hv-1 until it has 100 J there, then on hv-2 until it has 100 J more
    await waitFor("web-1's energy on hv-1 in the TSDB", async () => ((await energyOf(WEB.uuid)) >= 100 ? true : null), 180_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n--- vmalert:\n${alert.output().slice(-2000)}`);
    });
    await hosts[0]!.hv.stopVm(WEB.uuid);
    await hosts[1]!.hv.runVm(WEB);
    await waitFor(
      "web-1 on hv-2 in the TSDB",
      async () => {
        const parts = await query(`scaph_vm_energy_joules_total{uuid="${WEB.uuid}"}`);
        const onHv2 = [...parts].find(([k]) => (JSON.parse(k) as Record<string, string>).host === "hv-2")?.[1] ?? 0;
        return onHv2 >= 100 ? true : null;
      },
      180_000,
    );

    // then nothing moves: every host's energy and CPU time stop, and each answer must reach what the exporters counted
    for (const h of hosts) await h.hv.freeze();
    // settled: no counter of any exporter moved over three of their steps
    const settle = async (): Promise<Map<string, number>> => {
      let since = { at: Date.now(), values: new Map(truth) };
      await waitFor(
        "the exporters' counters to stop",
        async () => {
          await read();
          const same = truth.size > 0 && [...truth].every(([k, v]) => since.values.get(k) === v);
          if (!same) since = { at: Date.now(), values: new Map(truth) };
          return same && Date.now() - since.at >= 3000 ? true : null;
        },
        60_000,
      );
      return new Map(truth);
    };
    const counted = await settle();
    const byHost = (host: string, metric: string, label: string, value: string): number =>
      [...counted].filter(([k]) => k.startsWith(`${host} ${metric}{`) && labelOf(k, label) === value).reduce((s, [, v]) => s + v, 0);
    const everywhere = (label: string, value: string): number => hosts.reduce((s, h) => s + byHost(h.name, "scaph_vm_energy_joules_total", label, value), 0);

    const webHv1 = byHost("hv-1", "scaph_vm_energy_joules_total", "uuid", WEB.uuid);
    const webHv2 = byHost("hv-2", "scaph_vm_energy_joules_total", "uuid", WEB.uuid);
    assert.ok(webHv1 >= 100 && webHv2 >= 100, `web-1 drew on both hosts: ${webHv1} J on hv-1, ${webHv2} J on hv-2`);
    const expect = [
      { q: `uuid_vmname:scaph_vm_energy_joules:increase1d{uuid="${WEB.uuid}"}`, want: webHv1 + webHv2, what: "web-1's day: hv-1's part + hv-2's part" },
      { q: `uuid_vmname:scaph_vm_energy_joules:increase1d{uuid="${DB.uuid}"}`, want: everywhere("uuid", DB.uuid), what: "db-1's day" },
      {
        q: `nova_project:scaph_vm_energy_joules:increase1d{nova_project="shop"}`,
        want: everywhere("nova_project", "shop"),
        what: "tenant shop: web-1 on hv-1 and hv-2, db-1 on hv-3",
      },
      {
        q: `nova_project:scaph_vm_energy_joules:increase1d{nova_project="lab"}`,
        want: everywhere("nova_project", "lab"),
        what: "tenant lab: ci-1 on hv-1, ci-2 on hv-2",
      },
      ...hosts.map((h) => ({
        q: `host:scaph_host_energy_joules:increase1d{host="${h.name}"}`,
        want: [...counted].filter(([k]) => k.startsWith(`${h.name} scaph_host_energy_microjoules`)).reduce((s, [, v]) => s + v, 0) / 1e6,
        what: `${h.name}'s day`,
      })),
    ];
    for (const e of expect) assert.ok(e.want > 0, `${e.what}: the exporters counted ${e.want} J`);
    // vmalert evaluates every 2 s, and the agents write what they scraped: wait until the answers stand within 1 %
    const got = new Map<string, number>();
    await waitFor(
      "every fleet answer within 1 % of the exporters' counters",
      async () => {
        let ok = true;
        for (const e of expect) {
          const v = [...(await query(e.q)).values()];
          got.set(e.q, v.length === 1 ? v[0]! : NaN);
          if (!(v.length === 1 && Math.abs(v[0]! - e.want) <= 0.01 * e.want)) ok = false;
        }
        return ok ? true : null;
      },
      120_000,
    ).catch(async (err: unknown) => {
      const table = expect.map((e) => `${e.what}: TSDB ${got.get(e.q)} J, exporters ${e.want.toFixed(3)} J`).join("\n");
      // what the TSDB holds of each raw series: its last value and how many times it went back
      const raw = async (q: string): Promise<string> => [...(await query(q))].map(([k, v]) => `${k} ${v}`).join("\n");
      const held = `${await raw("last_over_time(scaph_vm_energy_joules_total[1d])")}\n${await raw("resets(scaph_vm_energy_joules_total[1d])")}\n${await raw("last_over_time(scaph_host_energy_microjoules[1d])")}\n${await raw("resets(scaph_host_energy_microjoules[1d])")}`;
      throw new Error(
        `${String(err)}\n${table}\n--- the TSDB's raw series:\n${held}\n--- the exporters' last:\n${[...counted].map(([k, v]) => `${k} ${v}`).join("\n")}\n--- vmalert:\n${alert.output().slice(-2000)}`,
      );
    });
    const table = expect.map(
      (e) =>
        `${e.what}: ${got.get(e.q)!.toFixed(3)} J in the TSDB, ${e.want.toFixed(3)} J counted (${(((got.get(e.q)! - e.want) / e.want) * 100).toFixed(3)} %)`,
    );
    console.log(`fleet answers against the exporters' own counters:\n${table.join("\n")}`);
    // the same answers from the central Prometheus, and every panel of the Fleet dashboard has data there.
    // Prometheus's increase() extrapolates a series that ended before the range's end by half its scrape interval
    // at its average rate, and one still going to the range's end by up to 1.1 intervals: with 1 s scrapes over a run of
    // half a minute that is a few % above the counters (2.4 to 4.9 % in one run); over a day of 10 s scrapes, a few
    // seconds in 86,400. Never below them. VictoriaMetrics does not extrapolate: its answers above are exact.
    const fromProm = new Map<string, number>();
    await waitFor(
      "the central Prometheus's answers, at least the counters and at most 10 % above",
      async () => {
        let ok = true;
        for (const e of expect) {
          const v = [...(await query(e.q, promApi)).values()];
          fromProm.set(e.q, v.length === 1 ? v[0]! : NaN);
          if (!(v.length === 1 && v[0]! >= e.want * 0.9999 && v[0]! <= 1.1 * e.want)) ok = false;
        }
        return ok ? true : null;
      },
      60_000,
    ).catch(async (err: unknown) => {
      const raw = async (q: string): Promise<string> => [...(await query(q, promApi))].map(([k, v]) => `${q} ${k} ${v}`).join("\n");
      const held = (await Promise.all(["min_over_time", "max_over_time", "count_over_time"].map((f) => raw(`${f}(scaph_host_energy_microjoules[1d])`)))).join(
        "\n",
      );
      throw new Error(
        `${String(err)}\n${expect.map((e) => `${e.what}: Prometheus ${fromProm.get(e.q)} J, exporters ${e.want.toFixed(3)} J`).join("\n")}\n${held}`,
      );
    });
    console.log(
      `the central Prometheus's:\n${expect.map((e) => `${e.what}: ${fromProm.get(e.q)!.toFixed(3)} J (${(((fromProm.get(e.q)! - e.want) / e.want) * 100).toFixed(3)} %)`).join("\n")}`,
    );
    const boards = await dashboardsWithoutData("fleet", promApi);
    assert.equal(boards.files, 1, "the Fleet dashboard ships");
    assert.deepEqual(boards.empty, [], `Fleet panels or variables without data:\n${boards.empty.join("\n")}`);
    assert.ok(boards.queries >= 7, `${boards.queries} queries`);

    // one series per VM, whatever the hosts it ran on; the host label on every series
    assert.equal((await query(`count(uuid_vmname:scaph_vm_energy_joules:increase1d)`)).values().next().value, 4);
    assert.equal((await query(`count(scaph_vm_energy_joules_total{host=""})`)).size, 0, "every series has its host");
    assert.deepEqual(
      [...(await query(`count by (instance) (scaph_host_energy_microjoules)`)).keys()].map((k) => (JSON.parse(k) as Record<string, string>).instance).sort(),
      ["hv-1", "hv-2", "hv-3"],
    );
  },
);
