/**
 * KubeVirt VMs as a node agent sees them. No KubeVirt runs here:
 * fixtures/proc/kubevirt stands in for a KubeVirt node's /proc, shaped from
 * KubeVirt's source (virt-launcher-monitor, virt-launcher, virtqemud and
 * /usr/libexec/qemu-kvm as uid 107 in the compute container's cgroup, no
 * machine.slice scope, `-name guest=<namespace>_<vmi>`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MetricsModel } from "@scaph/common";
import { inPod, kubevirtIdentity, kubevirtLabels } from "../../src/qemu/kubevirt.js";
import { collectStatus, formatStatus } from "../../src/setup/status.js";
import { PodLibvirts } from "../../src/qemu/pod-libvirt.js";
import { qemuRig } from "./rig.js";

test("a KubeVirt domain name is <namespace>_<vmi>, split at the first _, each part as Kubernetes allows it", () => {
  assert.deepEqual(kubevirtIdentity("prod_web-1"), { namespace: "prod", vmi: "web-1" });
  assert.deepEqual(kubevirtIdentity("default_db.primary"), { namespace: "default", vmi: "db.primary" });
  for (const name of ["plain", "_x", "x_", "Prod_x", "a_b_c", "ns_-x", `${"n".repeat(64)}_x`, "ns_x\n", "ns_x y", "ns/../x_y"]) {
    assert.equal(kubevirtIdentity(name), null, JSON.stringify(name));
  }
});

test("a process is in a pod when its cgroup is under kubepods (systemd or cgroupfs driver, v1 or v2)", () => {
  assert.equal(inPod("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podx.slice/cri-containerd-ab.scope\n"), true);
  assert.equal(inPod("12:cpu,cpuacct:/kubepods/burstable/pod1234/abcd\n0::/\n"), true);
  assert.equal(inPod("0::/machine.slice/machine-qemu\\x2d1\\x2dweb.scope/libvirt/emulator\n"), false);
  assert.equal(inPod("0::/user.slice/user-1000.slice/session-2.scope/notkubepods\n"), false);
  assert.equal(inPod(""), false);
  assert.deepEqual(kubevirtLabels("prod_web-1", false), {}, "outside a pod: no KubeVirt labels");
});

test("KubeVirt's qemu in a virt-launcher pod is a VM: named by its domain, labelled with namespace and VMI, its process's CPU time, listed by status", async () => {
  const q = await qemuRig({ proc: "proc/kubevirt", keepProcesses: true });
  try {
    await q.step();
    await q.rig.power.advance("intel-rapl:0", 10_000_000);
    await q.rig.proc.advanceBusy(400);
    await q.rig.proc.advanceProcess(3003, 200); // prod_web-1's qemu, every thread
    await q.rig.proc.advanceProcess(3002, 40); // its pod's virtqemud: not the VM's
    await q.rig.proc.advanceProcess(3100, 100); // default_db.primary
    const s = await q.step(2);
    assert.deepEqual(
      s.vms.map((v) => [v.name, v.pid, v.cpuSource, v.labels ?? {}]),
      [
        ["default_db.primary", 3100, "process", { kubevirt_namespace: "default", kubevirt_vmi: "db.primary" }],
        ["lab_x", 3300, "process", {}], // a libvirt scope, but not in the fixture's cgroup tree: its process's time
        ["plain", 3200, "process", {}],
        ["prod_web-1", 3003, "process", { kubevirt_namespace: "prod", kubevirt_vmi: "web-1" }],
      ],
      q.lines.join("\n"),
    );
    const web = s.vms.find((v) => v.name === "prod_web-1");
    assert.equal(web?.energyUj, 5_000_000, "200 of 400 busy ticks: half the host's 10 J");
    assert.equal(web?.uuid, "7a1e2d3c-4b5a-5968-8776-655443322110");
    assert.equal(s.vms.find((v) => v.name === "default_db.primary")?.energyUj, 2_500_000);

    // the labels reach the VM series
    const model = new MetricsModel({ filter: { kind: "top", n: 0 }, qemu: true });
    model.update(s.snapshot);
    const power = model.samples("scaph_vm_power_microwatts").find((x) => x.labels.vmname === "prod_web-1");
    assert.equal(power?.labels.kubevirt_namespace, "prod");
    assert.equal(power?.labels.kubevirt_vmi, "web-1");

    // this host's libvirt (the test driver's one domain, "test") knows none of them: status lists them from the daemon
    const report = await collectStatus({ connect: "test:///default", baseDir: q.baseDir });
    const row = report.rows.find((r) => r.domain === "prod_web-1");
    assert.ok(row, formatStatus(report));
    assert.equal(row.state, "running (no domain in this host's libvirt)");
    assert.equal(row.power_w, 2.5);
    assert.ok(
      report.rows.some((r) => r.domain === "test"),
      "the host's own domains are still there",
    );
  } finally {
    await q.cleanup();
  }
});

test("a pod whose libvirt cannot be reached: the VM keeps its share, and status says why (asked through the pod's /proc/<pid>/root)", async () => {
  let pods: PodLibvirts | null = null;
  const q = await qemuRig({ proc: "proc/kubevirt", pods: (procRoot, log) => (pods = new PodLibvirts(procRoot, log)) });
  try {
    await q.step();
    // the fixture's qemu has no root: neither socket name is there
    const d = await pods!.askNow(3003, "7a1e2d3c-4b5a-5968-8776-655443322110", "prod_web-1");
    assert.equal(d.facts, null);
    assert.match(d.note, /^its pod's libvirt unreachable: .*\/3003\/root: ENOENT/);
    await q.rig.power.advance("intel-rapl:0", 10_000_000);
    await q.rig.proc.advanceBusy(400);
    await q.rig.proc.advanceProcess(3003, 200);
    const s = await q.step(2);
    const web = s.vms.find((v) => v.name === "prod_web-1");
    assert.equal(web?.energyUj, 5_000_000, "its share, as without its pod's libvirt");
    assert.equal(web?.transports, undefined, "no channel known: its tree is written");
    assert.equal(web?.libvirtNote, d.note);
    assert.equal(s.vms.find((v) => v.name === "lab_x")?.libvirtNote, undefined, "a qemu outside any pod is not asked");
    const report = await collectStatus({ connect: "test:///default", baseDir: q.baseDir });
    assert.match(
      report.rows.find((r) => r.domain === "prod_web-1")?.state ?? "",
      /^running \(no domain in this host's libvirt; its pod's libvirt unreachable: /,
    );
  } finally {
    await q.cleanup();
  }
});
