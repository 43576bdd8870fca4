/**
 * A KubeVirt VM's live migration from one virt-launcher pod to another, with
 * its energy over scaph's channel (`npm run test:lab`). No KubeVirt runs
 * here; what stands in for it, and for what:
 * - each pod is a libvirtd in a mount namespace of its own
 *   (test/helpers/second-libvirtd.ts, as in
 *   test/e2e/kubevirt-pod.system.test.ts): its socket and
 *   /var/run/kubevirt-private exist only in that namespace; its qemu runs as
 *   a user of its own (KubeVirt's is uid 107 in every pod), in a kubepods
 *   cgroup of its own (a compute container's);
 * - the domain is the lab's guest, whose agent reads the channel and prints
 *   its tree, named <namespace>_<vmi>, its XML as KubeVirt's hook sidecar
 *   leaves it (scaph-host kubevirt-hook onDefineDomain, run as the
 *   sidecar-shim runs it);
 * - each pod's node runs scaph-host qemu in the machine's own namespace,
 *   with no libvirt of its own (the test driver stands for none), accepting
 *   its pod's qemu user only (both nodes share /proc here): it asks the pod's
 *   libvirt through /proc/<qemu pid>/root and writes the VM's lines into the
 *   pod's socket the same way;
 * - the move is libvirt's live migration from pod A's libvirt to pod B's,
 *   reached through /proc/<pid>/root (KubeVirt connects the two pods'
 *   libvirts through its migration proxy), which carries the source's XML,
 *   channel included, as KubeVirt's does.
 * The target's daemon must pick up the new socket with no manual step, and
 * the hand-off must be as exact as between two hosts (test/lab/handoff.ts).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { copyFixture, fixturesDir, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin, runNode } from "../helpers/cli.js";
import { kubepodsCgroup } from "../helpers/kubepods.js";
import { freePort, startBackground, waitFor } from "../helpers/processes.js";
import type { Background } from "../helpers/processes.js";
import { startSecondLibvirtd } from "../helpers/second-libvirtd.js";
import type { SecondLibvirtd } from "../helpers/second-libvirtd.js";
import { appliedLines, guestDone } from "./console.js";
import { DaemonHistory, pollStatus } from "./daemon-history.js";
import { labDomainXml } from "./domain.js";
import { checkHandoff } from "./handoff.js";
import type { Move } from "./handoff.js";
import { labImages } from "./images.js";

const run = promisify(execFile);
const STEP_S = 1;
const NAME = "prod_web-1";
const GUEST_SECONDS = 100;
/** Lines the guest applies from a pod's node before it moves on. */
const LINES_PER_STAY = 8;
const PODS = ["A", "B"] as const;
type Pod = (typeof PODS)[number];
/** Each node's whole power (package + dram), W. */
const WATTS: Record<Pod, number> = { A: 30, B: 20 };
const USER: Record<Pod, string> = { A: "scaph-kv-a", B: "scaph-kv-b" };
const POD_UID: Record<Pod, string> = { A: "5d6e7f80-0000-4000-8000-0000000000a1", B: "5d6e7f80-0000-4000-8000-0000000000b2" };
const PRIVATE = "/run/kubevirt-private";

const pods: Partial<Record<Pod, SecondLibvirtd>> = {};
const cleanups: (() => void | Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface VmStatus {
  name: string;
  libvirt_note?: string;
  channel?: { connected: boolean; sent: number; path: string };
}

test(
  "lab: a KubeVirt VM moves between two pods and back; each node's daemon finds the new pod's socket by itself, and the hand-off is exact",
  { timeout: 400_000 },
  async (t) => {
    requireRoot("it starts two libvirtds in mount namespaces of their own, cgroups, and boots a guest");
    const dir = await mkdtemp(join(tmpdir(), "scaph-lab-kvmig-"));
    chmodSync(dir, 0o777);
    cleanups.push(() => (process.env.SCAPH_LAB_KEEP ? undefined : rm(dir, { recursive: true, force: true })));
    const madePrivate = !existsSync(PRIVATE);
    mkdirSync(PRIVATE, { recursive: true });
    cleanups.push(() => {
      if (madePrivate) rmdirSync(PRIVATE);
    });
    const vmiJson = readFileSync(join(fixturesDir(), "kubevirt", "vmi.json"), "utf8");
    const vmiUid = (JSON.parse(vmiJson) as { metadata: { uid: string } }).metadata.uid;
    for (const p of PODS) {
      const cg = kubepodsCgroup(POD_UID[p], (p === "A" ? "a1" : "b2").repeat(32));
      cleanups.push(() => cg.remove());
      const pod = await startSecondLibvirtd(join(dir, `pod-${p}`), USER[p], { privateDirs: ["/run/libvirt", PRIVATE], cgroupProcs: [cg.procs] });
      pods[p] = pod;
      cleanups.push(() => pod.stop());
      // virt-launcher makes the VMI's private directory, which its qemu may write: the channel's socket goes there
      pod.run("sh", ["-c", `mkdir -p ${PRIVATE}/${vmiUid} && chown ${USER[p]} ${PRIVATE}/${vmiUid}`]);
    }
    const podA = pods.A!;
    const { vmlinuz, initrd, type, about } = await labImages(dir);
    t.diagnostic(about);

    // The domain as the hook sidecar leaves it: scaph's channel, in bind mode, in the VMI's private directory.
    const consoleFile = join(dir, `${NAME}.console`);
    writeFileSync(consoleFile, "");
    chmodSync(consoleFile, 0o666);
    const domain = labDomainXml({
      name: NAME,
      image: { type, vmlinuz, initrd },
      consoleFile,
      memoryMiB: 512,
      devices: "<controller type='virtio-serial' index='0'/>",
      cmdline: `console=ttyS0 quiet panic=-1 scaph.transport=channel scaph.mode=busy scaph.seconds=${GUEST_SECONDS} scaph.step=${STEP_S}`,
    });
    const hook = await runNode(hostBin, ["kubevirt-hook", "onDefineDomain", "--vmi", vmiJson, "--domain", domain]);
    assert.equal(hook.code, 0, hook.stderr);
    const socket = `/var/run/kubevirt-private/${vmiUid}/scaph-energy.sock`;
    assert.ok(hook.stdout.includes(socket), hook.stdout);
    const xml = join(dir, `${NAME}.xml`);
    writeFileSync(xml, hook.stdout);
    chmodSync(xml, 0o644);

    const powercap: Record<Pod, string> = { A: await copyFixture("powercap/intel-1socket"), B: await copyFixture("powercap/intel-1socket") };
    for (const p of PODS) cleanups.push(() => removeTree(powercap[p]));
    const base: Record<Pod, string> = { A: join(dir, "node-a"), B: join(dir, "node-b") };
    const history: Record<Pod, DaemonHistory> = { A: new DaemonHistory(NAME), B: new DaemonHistory(NAME) };
    const daemons: Background[] = [];
    const polls: { stop(): Promise<void> }[] = [];
    for (const p of PODS) {
      const sim = new PowerSimulator({
        powercapRoot: powercap[p],
        zones: [
          { zone: "intel-rapl:0", watts: WATTS[p] - 4 },
          { zone: "intel-rapl:0:2", watts: 4 },
        ],
      });
      sim.start();
      cleanups.push(() => sim.stop());
      // the node's daemon: no libvirt on the node (test:///default stands for none), its own pod's qemu user
      const d = startBackground(process.execPath, [
        hostBin,
        "-v",
        "qemu",
        "--connect",
        "test:///default",
        "--base-dir",
        base[p],
        "--step",
        String(STEP_S),
        "--powercap-path",
        powercap[p],
        "--vm-user",
        USER[p],
      ]);
      daemons.push(d);
      cleanups.push(async () => void (await d.stop()));
      polls.push(pollStatus(base[p], history[p]));
    }
    cleanups.push(async () => {
      for (const poll of polls) await poll.stop();
    });
    const vmStatus = (p: Pod): VmStatus | null => {
      try {
        return (JSON.parse(readFileSync(join(base[p], ".scaph-status.json"), "utf8")) as { vms: VmStatus[] }).vms.find((v) => v.name === NAME) ?? null;
      } catch {
        return null;
      }
    };
    const applied = (epochs?: readonly string[]): Promise<number> => appliedLines(consoleFile, epochs);
    const logs = (): string => daemons.map((d, i) => `--- node ${PODS[i]}'s daemon:\n${d.output().slice(-3000)}`).join("\n");

    try {
      podA.virsh("define", xml);
      podA.virsh("start", NAME);
      await waitFor("the guest's agent to apply lines from node A's daemon", async () => ((await applied()) >= LINES_PER_STAY ? true : null), 180_000);
      const a = vmStatus("A");
      assert.match(a?.libvirt_note ?? "", /its pod's libvirt at \/var\/run\/libvirt\/libvirt-sock/);
      assert.match(a?.channel?.path ?? "", new RegExp(`^/proc/\\d+/root:${socket.replace(/\./g, "\\.")}$`));

      const moves: Move[] = [];
      for (const [from, to] of [
        ["A", "B"],
        ["B", "A"],
      ] as const) {
        const port = await freePort();
        // From the source pod's namespace, the target pod's socket through its root, as KubeVirt's proxy joins them.
        const target = `qemu+unix:///system?socket=/proc/${pods[to]!.nsPid}/root/run/libvirt/libvirt-sock`;
        const startMs = Date.now();
        await run("nsenter", [
          "-t",
          String(pods[from]!.nsPid),
          "-m",
          "--",
          "virsh",
          "-c",
          "qemu:///system",
          "migrate",
          "--live",
          "--persistent",
          "--undefinesource",
          NAME,
          target,
          "--migrateuri",
          `tcp://127.0.0.1:${port}`,
        ]);
        const endMs = Date.now();
        moves.push({ from, to, startMs, endMs });
        const sent = await waitFor(`node ${to}'s daemon to write to the moved VM's socket in pod ${to}`, () => history[to].firstSentAfter(endMs), 60_000);
        const endStep = history[to].stepAt(endMs);
        t.diagnostic(
          `${from}→${to}: ${((endMs - startMs) / 1000).toFixed(1)} s; node ${to}'s first line was sent at its step ${sent.step}, the move ended after its step ${endStep}`,
        );
        assert.ok(sent.step <= endStep + 3, `node ${to} first delivered at its step ${sent.step}, the move ended after its step ${endStep}`);
        const v = vmStatus(to);
        assert.match(v?.libvirt_note ?? "", /its pod's libvirt at/, JSON.stringify(v));
        assert.ok(v?.channel?.connected, JSON.stringify(v));
        await waitFor(
          `the guest to apply lines from node ${to}'s daemon`,
          async () => ((await applied(history[to].epochsSince(startMs))) >= LINES_PER_STAY ? true : null),
          60_000,
        );
      }
      const ev = await guestDone(NAME, consoleFile);
      for (const poll of polls) await poll.stop();
      checkHandoff(t, ev, history, moves, WATTS, STEP_S);
    } catch (err) {
      throw new Error(
        `${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n${logs()}\n--- console:\n${existsSync(consoleFile) ? readFileSync(consoleFile, "utf8").slice(-3000) : "(none)"}`,
      );
    } finally {
      for (const p of PODS) {
        try {
          pods[p]?.virsh("destroy", NAME);
        } catch {
          // not running there
        }
        try {
          pods[p]?.virsh("undefine", NAME);
        } catch {
          // not defined there
        }
      }
    }
  },
);
