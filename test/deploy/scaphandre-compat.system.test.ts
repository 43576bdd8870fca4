/**
 * A Scaphandre user's queries against scaph: a fake Kubernetes node (a /proc
 * whose processes are named dockerd, etcd, kube-apiserver, kubelet,
 * prometheus, grafana-server, nginx and forty workers, all busy; nginx and
 * the workers in pods' cgroups), measured by `scaph-host prometheus` with
 * the Helm chart's flags (--containers, the pods from a stand-in for the
 * Kubernetes API: see test/helpers/kube-api.ts), scraped by a real
 * Prometheus (Debian's). Every query of Scaphandre's sample dashboard and of
 * its Kubernetes tutorial's dashboard (keyed on `exe`), and of scaph's own
 * Kubernetes dashboard (pods and namespaces too), returns data; the sum over
 * a many-process service counts every one of its processes, and each pod's
 * power is its processes'.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, ProcFixture, removeTree, requireCommand } from "@scaph/test-support";
import { hostBin } from "../helpers/cli.js";
import { dashboardsWithoutData } from "../helpers/dashboards.js";
import type { QueryResult } from "../helpers/dashboards.js";
import { cleanupsAfterFile, freePort, startBackground, waitFor } from "../helpers/processes.js";
import { pod, podList, startStandInApi } from "../helpers/kube-api.js";
import type { Background } from "../helpers/processes.js";

const { stops } = cleanupsAfterFile();

/** The node's processes: comm (as the kernel cuts it, 15 bytes), executable, command line. */
const NODE: [string, string, string[]][] = [
  ["dockerd", "/usr/bin/dockerd", ["/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"]],
  ["etcd", "/usr/local/bin/etcd", ["etcd", "--data-dir=/var/lib/etcd"]],
  ["kube-apiserver", "/usr/local/bin/kube-apiserver", ["kube-apiserver", "--etcd-servers=https://127.0.0.1:2379"]],
  ["kube-controller", "/usr/local/bin/kube-controller-manager", ["kube-controller-manager", "--leader-elect=true"]],
  ["kube-scheduler", "/usr/local/bin/kube-scheduler", ["kube-scheduler", "--leader-elect=true"]],
  ["kube-proxy", "/usr/local/bin/kube-proxy", ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf"]],
  ["kubelet", "/usr/bin/kubelet", ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"]],
  ["prometheus", "/bin/prometheus", ["/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml"]],
  ["grafana-server", "/usr/share/grafana/bin/grafana-server", ["grafana-server", "--homepath=/usr/share/grafana"]],
  ["nginx", "/usr/sbin/nginx", ["nginx: master process /usr/sbin/nginx", "-g", "daemon off;"]],
];
const WORKERS = 40;

/** The pods of the fake node: nginx in web (shop), the workers in two containers of batch-a and one of batch-b (jobs). */
const POD_UIDS = {
  web: "1c2e3a4b-5d6f-4a7b-8c9d-0e1f2a3b4c5d",
  "batch-a": "2d3e4f50-6172-4839-9a0b-1c2d3e4f5061",
  "batch-b": "3e4f5061-7283-4940-ab1c-2d3e4f506172",
} as const;
const CONTAINER_IDS = ["1", "2", "3", "4"].map((c) => c.repeat(64));
function podOf(comm: string, worker: number): { pod: keyof typeof POD_UIDS; container: number } | null {
  if (comm === "nginx") return { pod: "web", container: 0 };
  if (worker < 0) return null;
  return worker < 20 ? { pod: "batch-a", container: worker < 10 ? 1 : 2 } : { pod: "batch-b", container: 3 };
}
const PODS = podList(
  [
    pod({ name: "web", namespace: "shop", uid: POD_UIDS.web, node: "node-a", containers: [["nginx", `containerd://${CONTAINER_IDS[0]}`]] }),
    pod({
      name: "batch-a",
      namespace: "jobs",
      uid: POD_UIDS["batch-a"],
      node: "node-a",
      containers: [
        ["fetch", `containerd://${CONTAINER_IDS[1]}`],
        ["crunch", `containerd://${CONTAINER_IDS[2]}`],
      ],
    }),
    pod({ name: "batch-b", namespace: "jobs", uid: POD_UIDS["batch-b"], node: "node-a", containers: [["crunch", `containerd://${CONTAINER_IDS[3]}`]] }),
  ],
  "100",
);

/** Writes the fake node's /proc: /proc/stat, uptime, loadavg, meminfo and each process's stat, cmdline, exe, cgroup. */
function fakeNode(root: string): number[] {
  writeFileSync(join(root, "stat"), "cpu  10000 0 0 100000 0 0 0 0 0 0\ncpu0 10000 0 0 100000 0 0 0 0 0 0\nbtime 1700000000\n");
  writeFileSync(join(root, "uptime"), "1000.00 0.00\n");
  writeFileSync(join(root, "loadavg"), "1.50 1.20 0.90 3/400 5000\n");
  writeFileSync(join(root, "meminfo"), "MemTotal: 16000000 kB\nMemFree: 4000000 kB\nMemAvailable: 8000000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n");
  const procs: [string, string, string[]][] = [
    ...NODE,
    ...Array.from({ length: WORKERS }, (_, i): [string, string, string[]] => [
      "python3",
      "/usr/bin/python3.11",
      ["python3", "/opt/app/worker.py", `--id=${i}`],
    ]),
  ];
  return procs.map(([comm, exe, argv], i) => {
    const pid = 1000 + i;
    const dir = join(root, String(pid));
    mkdirSync(dir);
    writeFileSync(
      join(dir, "stat"),
      `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 100 0 0 0 20 0 4 0 5000 1073741824 25600 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n`,
    );
    writeFileSync(join(dir, "cmdline"), argv.join("\0") + "\0");
    symlinkSync(exe, join(dir, "exe"));
    const inPod = podOf(comm, i - NODE.length);
    const uid = inPod ? POD_UIDS[inPod.pod].replace(/-/g, "_") : "";
    writeFileSync(
      join(dir, "cgroup"),
      inPod
        ? `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid}.slice/cri-containerd-${CONTAINER_IDS[inPod.container]}.scope\n`
        : "0::/system.slice/kubelet.service\n",
    );
    return pid;
  });
}

test("Scaphandre's dashboards' queries, and its Kubernetes tutorial's exe-keyed ones, have data from scaph-host prometheus with the Helm chart's flags (--containers): pods and namespaces too", async () => {
  const prometheus = requireCommand("prometheus", "prometheus");
  const dir = mkdtempSync(join(tmpdir(), "scaph-compat-"));
  stops.push(() => rmSync(dir, { recursive: true, force: true }));
  const proc = join(dir, "proc");
  mkdirSync(proc);
  const pids = fakeNode(proc);
  const powercap = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({
    powercapRoot: powercap,
    zones: [
      { zone: "intel-rapl:0", watts: 60 },
      { zone: "intel-rapl:0:2", watts: 6 },
    ],
  });
  sim.start();
  stops.push(async () => {
    await sim.stop();
    await removeTree(powercap);
  });
  // Every process busy, all the time: a tick of busy time per process, every 100 ms of the fixture's clock
  const p = new ProcFixture(proc);
  let uptime = 1000;
  let running = true;
  const busy = (async () => {
    while (running) {
      uptime += 0.1;
      await p.advanceBusy(pids.length);
      for (const pid of pids) await p.advanceProcess(pid, 1);
      await p.setUptime(uptime);
      await new Promise((r) => setTimeout(r, 100)); // the simulated node's clock: a tick every 100 ms
    }
  })();
  stops.push(async () => {
    running = false;
    await busy;
  });

  const kube = await startStandInApi({ list: () => PODS, watch: () => undefined });
  stops.push(() => kube.close());
  const port = await freePort();
  const exporter: Background = startBackground(process.execPath, [
    hostBin,
    "prometheus",
    "-a",
    "127.0.0.1",
    "-p",
    String(port),
    "--procfs-path",
    proc,
    "--powercap-path",
    powercap,
    // the Helm chart's: --containers, the API server and the node from the pod's environment (here, flags)
    "--containers",
    "--kubernetes-api",
    kube.url,
    "--kubernetes-service-account",
    kube.serviceAccountDir,
    "--kubernetes-node",
    "node-a",
  ]);
  stops.push(() => exporter.stop());
  const promDir = join(dir, "prom");
  mkdirSync(promDir);
  writeFileSync(
    join(promDir, "prometheus.yml"),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: scaphandre\n    static_configs:\n      - targets: ["127.0.0.1:${port}"]\n`,
  );
  const promPort = await freePort();
  const prom = startBackground(prometheus, [
    `--config.file=${join(promDir, "prometheus.yml")}`,
    `--storage.tsdb.path=${join(promDir, "data")}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
  stops.push(() => prom.stop());
  const api = `http://127.0.0.1:${promPort}/api/v1`;
  const query = async (q: string): Promise<QueryResult> => (await (await fetch(`${api}/query?query=${encodeURIComponent(q)}`)).json()) as QueryResult;
  const count = async (q: string): Promise<number> => (await query(q)).data?.result?.length ?? 0;
  await waitFor(
    "every process's power in Prometheus",
    async () => ((await count("scaph_process_power_consumption_microwatts > 0")) >= pids.length ? true : null),
    90_000,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n--- scaph-host:\n${exporter.output().slice(-2000)}\n--- prometheus:\n${prom.output().slice(-2000)}`);
  });
  await waitFor("a few samples", async () => ((await count("count_over_time(scaph_host_power_microwatts[1m]) >= 3")) === 1 ? true : null), 60_000);

  // Scaphandre's sample dashboard (process_filter set to a worker's command line, as a user would)
  const sample = [
    "scaph_host_power_microwatts / 1000000",
    "sum(scaph_process_power_consumption_microwatts) / 1000000",
    "sum(scaph_domain_power_microwatts) / 1000000",
    "sum(avg_over_time(scaph_host_power_microwatts[1h]))/1000000",
    "scaph_host_load_avg_one",
    "scaph_host_load_avg_five",
    "scaph_host_load_avg_fifteen",
    "scaph_socket_power_microwatts / 1000000",
    "scaph_domain_power_microwatts / 1000000",
    "scaph_self_cpu_usage_percent",
    "scaph_self_memory_bytes",
    "scaph_self_memory_virtual_bytes",
    'scaph_process_power_consumption_microwatts{cmdline=~".*worker.py.*"}/1000000',
    'scaph_process_cpu_usage_percentage{cmdline=~".*worker.py.*"}',
    'scaph_process_memory_bytes{cmdline=~".*worker.py.*"}',
    'scaph_process_memory_virtual_bytes{cmdline=~".*worker.py.*"}',
    "scaph_host_energy_timestamp_seconds",
    "scaph_host_disk_total_bytes",
    "scaph_host_disk_available_bytes",
  ];
  // The Kubernetes tutorial's dashboard: the host, every process above 0.01 W, one panel per component
  const k8s = [
    "scaph_host_power_microwatts / 1000000",
    "scaph_process_power_consumption_microwatts / 1000000 > 0.01",
    'scaph_process_power_consumption_microwatts{exe="dockerd"} / 1000000',
    'scaph_process_power_consumption_microwatts{exe="prometheus"} / 1000000',
    'scaph_process_power_consumption_microwatts{exe=~"etcd|kube-apiserver|kube-controller|kube-proxy|kube-scheduler|kubelet"} / 1000000',
  ];
  const empty: string[] = [];
  for (const q of [...sample, ...k8s]) {
    const r = await query(q);
    if (r.status !== "success" || r.data.result.length === 0) empty.push(`${q}: ${r.error ?? "no series"}`);
  }
  // on a machine whose root is not a disk (an overlay), there may be no disk series: said, not failed
  const disks = empty.filter((e) => e.startsWith("scaph_host_disk_"));
  if (disks.length > 0) console.log(`# no disk series here (no filesystem that holds data is mounted): ${disks.length} queries`);
  assert.deepEqual(
    empty.filter((e) => !e.startsWith("scaph_host_disk_")),
    [],
    `queries without data:\n${empty.join("\n")}`,
  );
  assert.equal(
    await count('scaph_process_power_consumption_microwatts{exe=~"etcd|kube-apiserver|kube-controller|kube-proxy|kube-scheduler|kubelet"}'),
    6,
    "each control-plane component, by its process name",
  );
  // scaph's own Kubernetes dashboard: every panel and variable has data
  const boards = await dashboardsWithoutData("kubernetes", api);
  assert.ok(boards.files >= 1, "a Kubernetes dashboard ships");
  assert.deepEqual(boards.empty, [], `panels or variables without data:\n${boards.empty.join("\n")}`);
  // each pod's power is its processes' (the one attribution), by pod and by namespace
  await waitFor("every pod's power", async () => ((await count('scaph_container_power_microwatts{kubernetes_pod_name!=""} > 0')) === 4 ? true : null), 30_000);
  for (const [by, n] of [
    ["kubernetes_pod_name", 3],
    ["kubernetes_pod_namespace", 2],
  ] as const) {
    const sums = async (m: string): Promise<Map<string, number>> => {
      const r = await query(`sum by (${by}) (${m}{kubernetes_pod_name!=""})`);
      return new Map(r.data.result.map((x) => [x.metric[by] ?? "", Number(x.value[1])]));
    };
    const [containers, processes] = [await sums("scaph_container_power_microwatts"), await sums("scaph_process_power_consumption_microwatts")];
    assert.equal(containers.size, n, `${by}: ${[...containers.keys()].join(", ")}`);
    for (const [k, v] of containers)
      assert.ok(Math.abs(v - (processes.get(k) ?? NaN)) <= 1, `${by}=${k}: containers ${v} µW, its processes ${processes.get(k)} µW`);
  }
  // a service of many processes: every worker counted (Scaphandre exports every process)
  assert.equal(await count('scaph_process_power_consumption_microwatts{exe="python3"}'), WORKERS);
  const all = Number((await query("sum(scaph_process_power_consumption_microwatts)")).data.result[0]?.value[1]);
  const host = Number((await query("scaph_host_power_microwatts")).data.result[0]?.value[1]);
  assert.ok(all > 0.9 * host && all <= host * 1.001, `the processes' sum ${all} µW is the host's ${host} µW (every process busy, all exported)`);
});
