/**
 * Nested VMs with a real guest (`npm run test:lab`): the guest is a
 * hypervisor too. Its host's daemon feeds it over the channel; inside it,
 * scaph-guest keeps /var/scaphandre, and scaph-host qemu (no RAPL, no
 * libvirt: it finds the guest's tree by itself) gives the guest's own VM
 * its share of the guest's energy.
 *
 * The nested VM is a stand-in: a busybox under qemu's executable name
 * (`qemu-system-x86_64`, libvirt's -name and -uuid on its command line)
 * that burns CPU, not a qemu running a VM in the TCG guest. What the daemon
 * sees of it (its executable, its owner, its command line, its CPU time) is
 * what it sees of a real one. The guest's script is test/lab/nested-init.sh.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin, repoRoot } from "../helpers/cli.js";
import { ensureLibvirtd, quiet, virsh } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";
import { startBackground, waitFor } from "../helpers/processes.js";
import { freshLabDomain } from "./domain.js";
import { labImages } from "./images.js";
import { removeLeftovers } from "./leftovers.js";

const NAME = "lab-nested";
const STEP_S = 1;
/** Guest seconds the nested daemon splits a moving tree (between the two freezes). */
const MOVING_S = 30;
const WATTS = 30;

let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

/** One step of the nested daemon (its -vv `measure:` line): the guest's energy, what it attributed, the nested VM's part, the rest. */
interface NestedStep {
  hostUj: number;
  attributedUj: number;
  vmUj: number;
  othersUj: number;
}

const MEASURE = /measure: [\d.]+ s, host (\d+) µJ, .*attributed (\d+) µJ; VMs: (?:nested-1=(\d+) µJ \([^)]*\)|none); other processes (\d+) µJ/;

test(
  "lab: in a guest fed over the channel, scaph-host qemu takes the guest's tree as its sensor and gives a nested VM its share, exact to the µJ",
  { timeout: 600_000 },
  async (t) => {
    requireRoot("it starts libvirtd and boots a guest through it");
    daemon = await ensureLibvirtd();
    for (const l of removeLeftovers([NAME], virsh)) console.log(`# leftover of an earlier run: ${l}`);
    const dir = await mkdtemp(join(tmpdir(), "scaph-lab-nested-"));
    chmodSync(dir, 0o777);
    const { vmlinuz, initrd, type, about } = await labImages(dir, join(repoRoot, "test", "lab", "nested-init.sh"), ["common", "guest", "host", "libvirt"]);
    t.diagnostic(about);
    const powercap = await copyFixture("powercap/intel-1socket");
    const sim = new PowerSimulator({
      powercapRoot: powercap,
      zones: [
        { zone: "intel-rapl:0", watts: WATTS - 4 },
        { zone: "intel-rapl:0:2", watts: 4 },
      ],
    });
    const consoleFile = join(dir, `${NAME}.console`);
    const host = startBackground(process.execPath, [
      hostBin,
      "-v",
      "qemu",
      "--base-dir",
      join(dir, "trees"),
      "--step",
      String(STEP_S),
      "--powercap-path",
      powercap,
    ]);
    try {
      const xml = freshLabDomain(dir, {
        name: NAME,
        image: { type, vmlinuz, initrd },
        consoleFile,
        memoryMiB: 1024,
        devices: "<channel type='unix'><source mode='bind'/><target type='virtio' name='org.scaph.energy.0'/></channel>",
        cmdline: `console=ttyS0 quiet panic=-1 scaph.step=${STEP_S} scaph.seconds=${MOVING_S}`,
      });
      sim.start();
      virsh("create", xml);
      const lines = (): string[] =>
        readFileSync(consoleFile, "utf8")
          .split("\n")
          .map((l) => /SCAPH-NESTED (.*)$/.exec(l.replace(/\r$/, ""))?.[1])
          .filter((l): l is string => l !== undefined);
      await waitFor("the guest's tree from its host's lines", () => (lines().includes("tree-up") ? true : null), 240_000);
      await waitFor("the nested daemon to run to its end", () => (lines().includes("done") ? true : null), 300_000);
      const said = lines();
      assert.ok(!said.includes("daemon-died"), `the nested daemon could not start:\n${said.filter((l) => l.startsWith("daemon ")).join("\n")}`);
      t.diagnostic(said.filter((l) => !l.startsWith("daemon ")).join(" | "));
      const value = (word: string): number => Number(/uj=(\d+)/.exec(said.find((l) => l.startsWith(`${word} `)) ?? "")?.[1] ?? NaN);
      const frozen = value("frozen");
      const final = value("final");
      const vmTree = value("vm-tree");
      assert.ok(said.includes("daemon-exit rc=0"), `the nested daemon stopped cleanly on SIGTERM: ${said.find((l) => l.startsWith("daemon-exit"))}`);
      // (a VM tree in a plain directory, not its own tmpfs, is said once: this guest gives it none)
      const warned = said.filter((l) => / (WARN|ERROR) /.test(l) && !/is not a mount point: writing anyway/.test(l));
      assert.deepEqual(warned, [], "no warning but the plain directory's");
      const steps: NestedStep[] = [];
      for (const l of said) {
        const m = MEASURE.exec(l);
        if (m) steps.push({ hostUj: Number(m[1]), attributedUj: Number(m[2]), vmUj: Number(m[3] ?? 0), othersUj: Number(m[4]) });
      }
      const sum = (f: (s: NestedStep) => number): number => steps.reduce((x, s) => x + f(s), 0);
      const guestUj = final - frozen;
      t.diagnostic(
        `the guest's tree gained ${(guestUj / 1e6).toFixed(3)} J while the nested daemon ran (${steps.length} steps); ` +
          `it attributed ${(sum((s) => s.attributedUj) / 1e6).toFixed(3)} J, nested-1 ${(sum((s) => s.vmUj) / 1e6).toFixed(3)} J ` +
          `(${((100 * sum((s) => s.vmUj)) / guestUj).toFixed(1)} %), its tree reads ${(vmTree / 1e6).toFixed(3)} J`,
      );
      assert.ok(steps.length >= MOVING_S / STEP_S / 2, `${steps.length} steps measured (the agent takes a few to start again)`);
      assert.ok(guestUj > 0, "the guest's tree moved while the daemon ran");
      // The sensor: the guest's tree, every µJ of what it gained between the freezes, no more.
      assert.equal(
        sum((s) => s.hostUj),
        guestUj,
        "the nested daemon's steps add up to what the guest's tree gained",
      );
      // The split: every step's energy to the nested VM and the guest's other processes, to the µJ.
      for (const s of steps) {
        assert.equal(s.vmUj + s.othersUj, s.attributedUj, JSON.stringify(s));
        assert.ok(s.attributedUj <= s.hostUj, JSON.stringify(s));
      }
      // The nested VM's tree: what it was attributed, to the µJ.
      assert.equal(
        vmTree,
        sum((s) => s.vmUj),
        "the nested VM's tree reads what it was attributed",
      );
      // Its share: it burns the guest's one vCPU, against the agent and the daemon.
      assert.ok(sum((s) => s.vmUj) > 0.3 * guestUj, `nested-1 got ${sum((s) => s.vmUj)} of ${guestUj} µJ`);
    } finally {
      await host.stop();
      await sim.stop();
      quiet(() => virsh("destroy", NAME));
      await removeTree(powercap);
      if (!process.env.SCAPH_LAB_KEEP) await rm(dir, { recursive: true, force: true });
    }
  },
);
