import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { copyFixture, fixtureRig, removeTree } from "@scaph/test-support";
import { createLogger, Meter, PowercapSensor, ProcessTable } from "@scaph/common";
import type { FixtureRig } from "@scaph/test-support";
import type { Logger, Snapshot } from "@scaph/common";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { buildDaemon } from "../../src/qemu/daemon.js";
import type { Daemon } from "../../src/qemu/daemon.js";
import type { LibvirtDomains } from "../../src/qemu/libvirt-source.js";
import type { ChannelSink } from "../../src/qemu/channel-sink.js";
import type { PodLibvirts } from "../../src/qemu/pod-libvirt.js";
import type { DeliverySink } from "../../src/qemu/delivery.js";

export const WEB_CG = "machine.slice/machine-qemu\\x2d1\\x2dweb\\x2d1.scope";
export const RHEL_CG = "machine.slice/machine-qemu\\x2d3\\x2drhel\\x2dvm.scope";
export const PVE_CG = "qemu.slice/100.scope";

/** Owners of the fixture's qemu processes (fixtures/proc/qemu/PID/status); uid 1000 is a local user. */
export const LIBVIRT_QEMU_UID = 64055;
export const RHEL_QEMU_UID = 107;

/** What one step of the daemon did: the Snapshot's VMs, with whether each tree was written. */
export interface DaemonStep {
  snapshot: Snapshot;
  hostUj: number;
  othersUj: number;
  vms: (Snapshot["vms"][number] & { written: boolean })[];
}

/** The qemu daemon's pipeline (Meter with the VM resolver, tree and status sinks) over fixture /proc, powercap and cgroup trees. */
export interface QemuRig {
  rig: FixtureRig;
  cgroupRoot: string;
  baseDir: string;
  log: Logger;
  lines: string[];
  /** The daemon's channel sink (a new one after restart()). */
  readonly channels: ChannelSink;
  /** The daemon's delivering sinks: its trees and its channels. */
  readonly deliveries: DeliverySink[];
  /** Measures one step of `seconds` and hands it to the sinks. */
  step(seconds?: number): Promise<DaemonStep>;
  /** Adds µs to a cgroup's usage_usec. */
  advanceCgroup(path: string, usec: number): Promise<void>;
  /** A new daemon on the same trees (a restart): new resolver, sinks and meter, primed. */
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface QemuRigOptions {
  libvirt?: LibvirtDomains | null;
  powercap?: string;
  maxVms?: number;
  libvirtPid?: (domain: string) => number | null;
  /** Frames a tree moves in per step (the daemon's --substeps); 1 here by default: each step's counters at once. */
  substeps?: number;
  /** The /proc fixture (fixtures/proc/qemu by default). */
  proc?: string;
  /** Each pod's libvirt, asked through the fixture's /proc/<pid>/root (as scaph-host qemu does with libvirt). */
  pods?: (procRoot: string, log: Logger) => PodLibvirts;
  /** Whether the Snapshots keep their processes: false by default, as scaph-host qemu's without --prometheus. */
  keepProcesses?: boolean;
}

export async function qemuRig(options: QemuRigOptions = {}): Promise<QemuRig> {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", write: (l) => lines.push(l) });
  const cgroupRoot = await copyFixture("cgroup/qemu");
  const baseDir = join(await mkdtemp(join(tmpdir(), "scaph-base-")), "scaphandre");
  const maxVms = options.maxVms ?? 100;
  await options.libvirt?.refresh();
  const rig = await fixtureRig(options.powercap ?? "intel-1socket", options.proc ?? "proc/qemu", { log });
  let now = 0n;
  // the daemon as scaph-host qemu wires it, over the fixture's files and a fake clock
  const start = (): Promise<Daemon> =>
    buildDaemon({
      baseDir,
      log,
      substeps: options.substeps ?? 1,
      resolver: {
        procRoot: rig.proc.root,
        cgroupRoot,
        clockTicks: 100,
        libvirt: options.libvirt ?? null,
        ...(options.pods ? { pods: options.pods(rig.proc.root, log) } : {}),
        policy: { allowedUids: new Set([0, LIBVIRT_QEMU_UID, RHEL_QEMU_UID]), maxVms, libvirtPid: options.libvirtPid ?? (() => null) },
      },
      async openMeter(vms) {
        const sensor = await PowercapSensor.open({ root: rig.power.root, clock: () => now });
        const meter = new Meter(sensor, new ProcessTable({ procRoot: rig.proc.root, clockTicks: 100, pageSize: 4096 }), {
          vms,
          log,
          keepProcesses: options.keepProcesses ?? false,
        });
        meter.prime();
        return meter;
      },
    });
  let daemon = await start();
  const q: QemuRig = {
    get channels() {
      return daemon.channels;
    },
    get deliveries() {
      return [daemon.trees, daemon.channels];
    },
    rig,
    cgroupRoot,
    baseDir,
    log,
    lines,
    async step(seconds = 1) {
      rig.advanceClock(seconds);
      now += BigInt(Math.round(seconds * 1e9));
      await options.libvirt?.refresh();
      const snapshot = await daemon.step();
      return {
        snapshot,
        hostUj: snapshot.host.energyUj,
        othersUj: snapshot.othersUj,
        vms: snapshot.vms.map((v) => ({ ...v, written: daemon.trees.delivered().get(v.key)?.ok ?? false })),
      };
    },
    async advanceCgroup(path, usec) {
      const f = join(cgroupRoot, path, "cpu.stat");
      const t = await readFile(f, "utf8");
      await writeFile(
        f,
        t.replace(/^usage_usec (\d+)$/m, (_m, v: string) => `usage_usec ${Number(v) + usec}`),
      );
    },
    async restart() {
      daemon.channels.close();
      daemon = await start();
    },
    async cleanup() {
      daemon.close();
      await rig.cleanup();
      await removeTree(cgroupRoot);
      await removeTree(baseDir);
    },
  };
  return q;
}

/** Adds a qemu process to the rig's /proc: argv as raw bytes (so invalid UTF-8 can be written), owner uid. */
export async function addQemu(q: QemuRig, pid: number, startTicks: number, argv: (string | Buffer)[], uid = 0): Promise<void> {
  const dir = join(q.rig.proc.root, String(pid));
  await mkdir(dir);
  await writeFile(join(dir, "stat"), `${pid} (qemu-system-x86) S 1 ${pid} ${pid} 0 -1 4194560 0 0 0 0 7 3 0 0 20 0 1 0 ${startTicks} 1000 10 0\n`);
  await writeFile(join(dir, "cmdline"), Buffer.concat(argv.flatMap((a) => [Buffer.from(a), Buffer.from([0])])));
  await symlink("/usr/bin/qemu-system-x86_64", join(dir, "exe"));
  await writeFile(join(dir, "status"), `Name:\tqemu-system-x86\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
}

export const Q = "/usr/bin/qemu-system-x86_64";
