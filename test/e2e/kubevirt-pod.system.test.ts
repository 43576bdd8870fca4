/**
 * A KubeVirt VM's channel, from the node. No KubeVirt runs here: a stand-in
 * pod does what virt-launcher's does for the node's view (kubevirt-facts):
 * a libvirtd in a mount namespace of its own, whose socket
 * (/var/run/libvirt/libvirt-sock) and the channel's directory
 * (/var/run/kubevirt-private/<vmi uid>) are tmpfs mounts only that namespace
 * has; its qemu in a kubepods cgroup, as a user of its own, named
 * <namespace>_<vmi>; its domain XML as the hook sidecar made it (scaph-host
 * kubevirt-hook onDefineDomain). scaph-host qemu on the node must find the
 * VM from /proc, ask the pod's libvirt through /proc/<qemu pid>/root (on
 * Debian /var/run is a link to /run: a link of the pod's, resolved inside its
 * root), and write the VM's lines to the channel's socket through the same
 * root. The stand-in pod's root is the machine's own (no container image), so
 * what a tenant's links could do is tested on a root of its own
 * (host/test/qemu/pod-root.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, fixturesDir, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin, runNode } from "../helpers/cli.js";
import { cleanupsAfterFile, startBackground, waitFor, writeBusyBootSector } from "../helpers/processes.js";
import { kubepodsCgroup } from "../helpers/kubepods.js";
import { startSecondLibvirtd } from "../helpers/second-libvirtd.js";
import type { SecondLibvirtd } from "../helpers/second-libvirtd.js";
import { domainType } from "../lab/accel.js";

const NAME = "prod_web-1";
const UUID = "5d6e7f80-0000-4000-8000-0000000000aa";
const POD_USER = "scaph-pod-qemu";
const { stops } = cleanupsAfterFile();

interface Status {
  vms: { name: string; libvirt_note?: string; channel?: { connected: boolean; sent: number; path: string } }[];
}

test("a KubeVirt VM's channel: its pod's libvirt asked through /proc/<pid>/root, the lines written to its pod's socket", { timeout: 400_000 }, async () => {
  requireRoot("it starts a libvirtd in a mount namespace, a qemu and cgroups");
  const dir = mkdtempSync(join(tmpdir(), "scaph-kvpod-"));
  stops.push(() => rmSync(dir, { recursive: true, force: true }));
  const vmi = JSON.parse(readFileSync(join(fixturesDir(), "kubevirt", "vmi.json"), "utf8")) as { metadata: { uid: string } };
  // the pod's own directories: mount points here, a tmpfs each in its namespace
  const privateDir = "/run/kubevirt-private";
  const madePrivate = !existsSync(privateDir);
  mkdirSync(privateDir, { recursive: true });
  stops.push(() => {
    if (madePrivate) rmdirSync(privateDir);
  });
  const cg = kubepodsCgroup("5d6e7f80-0000-4000-8000-000000000001");
  stops.push(() => cg.remove());
  let pod: SecondLibvirtd | null = null;
  pod = await startSecondLibvirtd(join(dir, "pod"), POD_USER, { privateDirs: ["/run/libvirt", privateDir], cgroupProcs: [cg.procs] });
  stops.push(() => pod?.stop());
  pod.run("sh", ["-c", `mkdir -p ${privateDir}/${vmi.metadata.uid} && chown ${POD_USER} ${privateDir}/${vmi.metadata.uid}`]);

  // the domain as the hook sidecar leaves it: scaph's channel added, in bind mode, in the VMI's private directory
  const img = join(dir, "boot.img");
  await writeBusyBootSector(img);
  // qemu runs as the pod's user, and libvirt leaves owners alone there
  chmodSync(dir, 0o755);
  execFileSync("chown", [POD_USER, img]);
  const { type } = await domainType();
  const domain = `<domain type='${type}'><name>${NAME}</name><uuid>${UUID}</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
    <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
    <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${img}'/><target dev='hda' bus='ide'/></disk>
    <controller type='virtio-serial' index='0'/></devices></domain>`;
  const hook = await runNode(hostBin, [
    "kubevirt-hook",
    "onDefineDomain",
    "--vmi",
    readFileSync(join(fixturesDir(), "kubevirt", "vmi.json"), "utf8"),
    "--domain",
    domain,
  ]);
  assert.equal(hook.code, 0, hook.stderr);
  assert.match(hook.stdout, new RegExp(`${privateDir.replace("/run", "/var/run")}/${vmi.metadata.uid}/scaph-energy\\.sock`));
  writeFileSync(join(dir, "pod", "domain.xml"), hook.stdout);
  pod.virsh("define", join(dir, "pod", "domain.xml"));
  pod.virsh("start", NAME);
  stops.push(() => {
    try {
      pod?.virsh("destroy", NAME);
    } catch {
      // gone
    }
  });
  // the channel's socket exists in the pod only
  assert.equal(existsSync(join(privateDir, vmi.metadata.uid, "scaph-energy.sock")), false, "not on the node's /run");

  const powercap = await copyFixture("powercap/intel-1socket");
  stops.push(() => removeTree(powercap));
  const sim = new PowerSimulator({ powercapRoot: powercap, zones: [{ zone: "intel-rapl:0", watts: 30 }] });
  sim.start();
  stops.push(() => sim.stop());
  const base = join(dir, "base");
  // the node's own libvirt knows nothing of the pod (the test driver stands for it)
  const host = startBackground(process.execPath, [
    hostBin,
    "-v",
    "qemu",
    "--connect",
    "test:///default",
    "--base-dir",
    base,
    "--step",
    "0.5",
    "--powercap-path",
    powercap,
    "--vm-user",
    POD_USER,
  ]);
  stops.push(() => host.stop());
  const status = (): Status | null => {
    try {
      return JSON.parse(readFileSync(join(base, ".scaph-status.json"), "utf8")) as Status;
    } catch {
      return null;
    }
  };
  const vm = await waitFor(
    "the daemon to write the VM's lines to its pod's channel",
    () => {
      const v = status()?.vms.find((x) => x.name === NAME);
      return v?.channel?.connected && v.channel.sent >= 3 ? v : null;
    },
    120_000,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\nstatus: ${JSON.stringify(status())}\n--- scaph-host qemu:\n${host.output().slice(-4000)}`);
  });
  assert.match(vm.libvirt_note ?? "", /its pod's libvirt at \/var\/run\/libvirt\/(libvirt|virtqemud)-sock \((\/session|\/system)\) knows it/);
  assert.match(vm.channel!.path, new RegExp(`^/proc/\\d+/root:/var/run/kubevirt-private/${vmi.metadata.uid}/scaph-energy\\.sock$`));
  assert.match(host.output(), /VM prod_web-1 .*its pod's libvirt at/);

  // scaph-host status lists it with where its domain came from
  const st = await runNode(hostBin, ["status", "--connect", "test:///default", "--base-dir", base]);
  // (it exits 1 when a domain has a problem: the test driver's own domain "test" is not set up)
  assert.match(st.stdout, /prod_web-1.*running \(no domain in this host's libvirt; its pod's libvirt at/);
});
