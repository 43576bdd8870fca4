import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { copyFixture, fixtureRig, removeTree } from "@scaph/common/testing";
import { createLogger } from "@scaph/common";
import type { FixtureRig } from "@scaph/common/testing";
import type { Logger } from "@scaph/common";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { Propagator } from "../../src/index.js";
import type { PropagationStep } from "../../src/index.js";
import type { LibvirtDomains } from "../../src/qemu/libvirt-source.js";

export const WEB_CG = "machine.slice/machine-qemu\\x2d1\\x2dweb\\x2d1.scope";
export const RHEL_CG = "machine.slice/machine-qemu\\x2d3\\x2drhel\\x2dvm.scope";
export const PVE_CG = "qemu.slice/100.scope";

/** A Propagator over fixture /proc, powercap and cgroup trees, with a base dir of its own. */
export interface QemuRig {
  rig: FixtureRig;
  cgroupRoot: string;
  baseDir: string;
  log: Logger;
  lines: string[];
  propagator: Propagator;
  /** Measures and propagates one step of `seconds`. */
  step(seconds?: number): Promise<PropagationStep>;
  /** Adds µs to a cgroup's usage_usec. */
  advanceCgroup(path: string, usec: number): Promise<void>;
  /** A new Propagator on the same trees (a restarted daemon). */
  restart(): void;
  cleanup(): Promise<void>;
}

/** Owners of the fixture's qemu processes (fixtures/proc/qemu/PID/status); uid 1000 is a local user. */
export const LIBVIRT_QEMU_UID = 64055;
export const RHEL_QEMU_UID = 107;

export async function qemuRig(
  options: { libvirt?: LibvirtDomains | null; powercap?: string; maxVms?: number; libvirtPid?: (domain: string) => number | null } = {},
): Promise<QemuRig> {
  const rig = await fixtureRig(options.powercap ?? "intel-1socket", "proc/qemu");
  const cgroupRoot = await copyFixture("cgroup/qemu");
  const baseDir = join(await mkdtemp(join(tmpdir(), "scaph-base-")), "scaphandre");
  const lines: string[] = [];
  const log = createLogger({ level: "debug", write: (l) => lines.push(l) });
  const make = (): Propagator =>
    new Propagator({
      baseDir,
      procRoot: rig.proc.root,
      cgroupRoot,
      clockTicks: 100,
      log,
      libvirt: options.libvirt ?? null,
      zoneMax: (name) => (name === "package" ? 262143328850 : name === "dram" ? 65712999613 : 262143328850),
      policy: { allowedUids: new Set([0, LIBVIRT_QEMU_UID, RHEL_QEMU_UID]), maxVms: options.maxVms ?? 100, libvirtPid: options.libvirtPid ?? (() => null) },
    });
  const q: QemuRig = {
    rig,
    cgroupRoot,
    baseDir,
    log,
    lines,
    propagator: make(),
    async step(seconds = 1) {
      rig.advanceClock(seconds);
      return q.propagator.step(await rig.measurer.measure());
    },
    async advanceCgroup(path, usec) {
      const f = join(cgroupRoot, path, "cpu.stat");
      const t = await readFile(f, "utf8");
      await writeFile(f, t.replace(/^usage_usec (\d+)$/m, (_m, v: string) => `usage_usec ${Number(v) + usec}`));
    },
    restart() {
      q.propagator = make();
    },
    async cleanup() {
      await rig.cleanup();
      await removeTree(cgroupRoot);
      await removeTree(baseDir);
    },
  };
  return q;
}
