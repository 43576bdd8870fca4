/**
 * --containers with Kubernetes pods. No API server can run on this
 * machine: a stand-in (test/helpers/kube-api.ts) serves recorded pod lists
 * and watch streams over HTTPS, as the API server would, and processes of a
 * fixture /proc sit in the cgroups that the kubelet makes for those pods
 * (systemd and cgroupfs drivers, containerd and CRI-O, a static pod).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import { copyFixture, removeTree } from "@scaph/test-support";
import { guestBin, hostBin } from "../helpers/cli.js";
import { pod, podList, startStandInApi, TOKEN, standInNodeArgs } from "../helpers/kube-api.js";
import { waitFor } from "../helpers/processes.js";
import { sample, scrape, startPrometheusOf } from "../helpers/scrape.js";

const id = (c: string): string => c.repeat(64);
const U_WEB = "1c2e3a4b-5d6f-4a7b-8c9d-0e1f2a3b4c5d";
const U_DB = "2d3e4f50-6172-4839-9a0b-1c2d3e4f5061";
const U_API = "3e4f5061-7283-4940-ab1c-2d3e4f506172";
const MIRROR = "6c3a5f2b9e8d7c6b5a4f3e2d1c0b9a8f";
const U_OTHER = "4f506172-8394-4a51-bc2d-3e4f50617283";
const U_BATCH = "50617283-94a5-4b62-8d3e-4f5061728394";

const webPod = pod({ name: "web-7d4b9c-x2x9z", namespace: "shop", uid: U_WEB, node: "node-a", containers: [["nginx", `containerd://${id("1")}`]] });
const dbPod = pod({ name: "db-0", namespace: "shop", uid: U_DB, node: "node-a", containers: [["postgres", `cri-o://${id("2")}`]] });
const apiPod = pod({
  name: "kube-apiserver-node-a",
  namespace: "kube-system",
  uid: U_API,
  node: "node-a",
  mirror: MIRROR,
  containers: [["kube-apiserver", `containerd://${id("3")}`]],
});
// the stand-in also sends a pod of another node, as a misbehaving server might: scaph must not take it
const otherPod = pod({ name: "elsewhere-1", namespace: "shop", uid: U_OTHER, node: "node-b", containers: [["app", `containerd://${id("4")}`]] });
const batchPod = pod({ name: "batch-7", namespace: "jobs", uid: U_BATCH, node: "node-a", containers: [["job", `containerd://${id("5")}`]] });

/** A fixture /proc whose processes run in those pods' cgroups. */
async function podProc(): Promise<string> {
  const proc = await copyFixture("proc/basic");
  for (const pid of [500, 600]) {
    await cp(join(proc, "300"), join(proc, String(pid)), { recursive: true, verbatimSymlinks: true });
    const stat = (await import("node:fs")).readFileSync(join(proc, "300", "stat"), "utf8");
    await writeFile(join(proc, String(pid), "stat"), stat.replace(/^300 /, `${pid} `));
  }
  const cg: Record<number, string> = {
    1: "0::/init.scope",
    100: `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_WEB.replace(/-/g, "_")}.slice/cri-containerd-${id("1")}.scope`,
    200: `0::/kubepods/besteffort/pod${U_DB}/${id("2")}`,
    300: `0::/kubepods/burstable/pod${MIRROR}/${id("3")}`,
    500: `0::/kubepods/pod${U_OTHER}/${id("4")}`,
    600: `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_BATCH.replace(/-/g, "_")}.slice/cri-containerd-${id("5")}.scope`,
  };
  for (const [pid, path] of Object.entries(cg)) await writeFile(join(proc, pid, "cgroup"), `${path}\n`);
  return proc;
}

function processLine(body: string, pid: number): string {
  return body.split("\n").find((l) => l.startsWith("scaph_process_power_consumption_microwatts{") && l.includes(`pid="${pid}"`)) ?? "";
}

test("pods from the (stand-in) Kubernetes API: the node's pods listed then watched, labels on processes and containers, a resync after a dropped watch", async (t) => {
  const api = await startStandInApi({
    list: (n) => (n === 1 ? podList([webPod, dbPod, apiPod, otherPod], "1000") : podList([webPod, dbPod, apiPod, otherPod, batchPod], "2000")),
    watch: (n: number, res: ServerResponse) => {
      if (n === 1) {
        // an event, a bookmark, then the connection drops (a reset, an API server restarting)
        res.write(
          JSON.stringify({
            type: "MODIFIED",
            object: { ...(webPod as object), metadata: { ...(webPod as { metadata: object }).metadata, resourceVersion: "1001" } },
          }) + "\n",
        );
        res.write(JSON.stringify({ type: "BOOKMARK", object: { kind: "Pod", metadata: { resourceVersion: "1002" } } }) + "\n");
        setImmediate(() => res.socket?.destroy());
      }
      // later watches stay open, as a quiet node's do
    },
  });
  const proc = await podProc();
  const { bg, url } = await startPrometheusOf(hostBin, [...standInNodeArgs(api, proc), "-v"]);
  try {
    const body = await waitFor(
      "the pod added while the watch was down (the resync's list)",
      async () => {
        const s = await scrape(url);
        return s.includes('kubernetes_pod_name="batch-7"') ? s : null;
      },
      30_000,
    );
    const expect = (pid: number, labels: string[], absent: string[] = []): void => {
      const line = processLine(body, pid);
      for (const l of labels) assert.ok(line.includes(l), `pid ${pid}: ${l} in ${line}`);
      for (const l of absent) assert.ok(!line.includes(l), `pid ${pid}: no ${l} in ${line}`);
    };
    const k8s = (name: string, ns: string): string[] => [
      'container_scheduler="kubernetes"',
      `kubernetes_pod_name="${name}"`,
      `kubernetes_pod_namespace="${ns}"`,
      'kubernetes_node_name="node-a"',
    ];
    expect(100, [...k8s("web-7d4b9c-x2x9z", "shop"), `container_id="${id("1")}"`, 'container_names="nginx"', 'container_runtime="containerd"']);
    // the cgroupfs driver's path does not name the runtime: the pod's status does
    expect(200, [...k8s("db-0", "shop"), `container_id="${id("2")}"`, 'container_names="postgres"', 'container_runtime="cri-o"']);
    // a static pod: its cgroup names the config hash, which its mirror pod carries
    expect(300, [...k8s("kube-apiserver-node-a", "kube-system"), 'container_names="kube-apiserver"']);
    // another node's pod, sent anyway: not taken; the process keeps what its cgroup says
    expect(500, ['container_scheduler="kubernetes"', `container_id="${id("4")}"`], ["kubernetes_pod_name", "container_names"]);
    expect(600, [...k8s("batch-7", "jobs"), 'container_names="job"']);
    expect(1, [], ["container_"]);
    const podSeries = body.split("\n").filter((l) => l.startsWith("scaph_container_power_microwatts{"));
    assert.equal(podSeries.length, 5, podSeries.join("\n"));

    // what scaph asked: only this node's pods, with the token, the watch from the list's version
    assert.ok(api.requests.length >= 4, `${api.requests.length} requests`);
    for (const r of api.requests) {
      assert.equal(r.path, "/api/v1/pods");
      assert.equal(r.query.get("fieldSelector"), "spec.nodeName=node-a");
      assert.equal(r.authorization, `Bearer ${TOKEN}`);
    }
    const watches = api.requests.filter((r) => r.query.get("watch") === "1");
    assert.equal(watches[0]?.query.get("resourceVersion"), "1000");
    assert.equal(watches[1]?.query.get("resourceVersion"), "2000", "after the drop: a new list, and a watch from its version");
    assert.ok(watches.every((w) => w.query.get("allowWatchBookmarks") === "true" && Number(w.query.get("timeoutSeconds")) > 0));
    const lists = api.requests.filter((r) => r.query.get("watch") !== "1").length;
    t.diagnostic(`${lists} lists, ${watches.length} watches`);
    const warns = bg
      .output()
      .split("\n")
      .filter((l) => / (WARN|ERROR) /.test(l));
    assert.deepEqual(warns, [], "a dropped watch is routine: no WARN");
  } finally {
    await bg.stop();
    await api.close();
    await removeTree(proc);
  }
});

test("the API server's certificate is verified with the service account's CA: a wrong CA gets no pods, one WARN, and every step", async () => {
  const api = await startStandInApi({ list: () => podList([webPod], "1"), watch: () => undefined });
  const proc = await podProc();
  const { bg, url } = await startPrometheusOf(hostBin, [
    // the service account's CA is another one than the server's
    ...standInNodeArgs({ url: api.url, serviceAccountDir: api.otherCaDir }, proc),
  ]);
  try {
    await waitFor("a WARN about the certificate", () => (/ WARN .*Kubernetes API/.test(bg.output()) ? true : null), 30_000);
    const t0 = sample(await scrape(url), "scaph_self_last_step_timestamp_seconds") ?? Infinity;
    const body = await waitFor(
      "5 more steps",
      async () => {
        const s = await scrape(url);
        return (sample(s, "scaph_self_last_step_timestamp_seconds") ?? 0) >= t0 + 1.5 ? s : null;
      },
      30_000,
    );
    assert.ok(!body.includes("kubernetes_pod_name"), "nothing taken from a server whose certificate does not check");
    assert.ok(processLine(body, 100).includes(`container_id="${id("1")}"`), "the cgroup's id all the same");
    assert.equal(api.requests.filter((r) => r.authorization !== undefined).length, 0, "no token sent to an unverified server");
    const warns = bg
      .output()
      .split("\n")
      .filter((l) => l.includes(" WARN "));
    assert.equal(warns.length, 1, warns.join("\n"));
    assert.match(warns[0] ?? "", /certificate/i);
  } finally {
    await bg.stop();
    await api.close();
    await removeTree(proc);
  }
});

test("--containers in a pod without its service account: a clear error naming the CA file", async () => {
  const { runNode } = await import("../helpers/cli.js");
  const r = await runNode(hostBin, [
    "stdout",
    "--sensor",
    "estimate",
    "-t",
    "1",
    "--containers",
    "--kubernetes-api",
    "https://127.0.0.1:1",
    "--kubernetes-service-account",
    "/nonexistent/sa",
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /\/nonexistent\/sa\/ca\.crt is absent/);
  assert.doesNotMatch(r.stderr, /internal error|    at /);
});

test("--containers on every exporter of both commands (and scaph-host qemu)", async () => {
  const { runNode } = await import("../helpers/cli.js");
  const commands = ["stdout", "json", "prometheus", "riemann", "warp10", "prometheus-push"];
  for (const [bin, cmds] of [
    [hostBin, [...commands, "qemu"]],
    [guestBin, commands],
  ] as const) {
    for (const cmd of cmds) {
      const r = await runNode(bin, [cmd, "--containers", "--container-labels", "^team$", "--docker-socket", "/run/x.sock", "--kubernetes-node", "n", "--help"]);
      assert.equal(r.code, 0, `${bin} ${cmd}: ${r.stderr}`);
      assert.match(r.stdout, /--containers\s+label each process with its container/);
    }
  }
  const bad = await runNode(hostBin, ["stdout", "--sensor", "estimate", "-t", "1", "--containers", "--container-labels", "("]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Invalid regular expression "\("/);
  const alone = await runNode(hostBin, ["json", "--sensor", "estimate", "-t", "1", "--container-regex", "x"]);
  assert.equal(alone.code, 1);
  assert.match(alone.stderr, /--container-regex goes with --containers/);
});

test("a KubeVirt VM under --containers: its series carry its virt-launcher pod's labels beside its namespace and VMI", async () => {
  // fixtures/proc/kubevirt: prod_web-1's qemu (pid 3003, uid 107) in the compute container of this pod
  const launcher = pod({
    name: "virt-launcher-web-1-x7k2p",
    namespace: "prod",
    uid: "0f0e0d0c-0b0a-4909-8807-060504030201",
    node: "node-a",
    containers: [["compute", `containerd://${id("1")}`]],
  });
  const api = await startStandInApi({ list: () => podList([launcher], "1000"), watch: () => {} });
  const proc = await copyFixture("proc/kubevirt");
  const { bg, url } = await startPrometheusOf(hostBin, [...standInNodeArgs(api, proc), "--qemu", "--vm-user", "107"]);
  try {
    const line = await waitFor(
      "prod_web-1's series with its pod's labels",
      async () =>
        (await scrape(url))
          .split("\n")
          .find((l) => l.startsWith("scaph_vm_power_microwatts{") && l.includes('vmname="prod_web-1"') && l.includes("kubernetes_pod_name")) ?? null,
      30_000,
    );
    for (const l of [
      'kubevirt_namespace="prod"',
      'kubevirt_vmi="web-1"',
      'kubernetes_pod_name="virt-launcher-web-1-x7k2p"',
      'kubernetes_pod_namespace="prod"',
      'kubernetes_node_name="node-a"',
    ])
      assert.ok(line.includes(l), `${l} in ${line}`);
    // a qemu outside any pod has none
    const plainLab = (await scrape(url)).split("\n").find((l) => l.startsWith("scaph_vm_power_microwatts{") && l.includes('vmname="lab_x"'));
    assert.ok(plainLab && !plainLab.includes("kubernetes_pod_name"), plainLab);
  } finally {
    await bg.stop();
    await api.close();
    await removeTree(proc);
  }
});
