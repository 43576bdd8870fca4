import { errorMessage, FrameTimer } from "@scaph/common";
import { join } from "node:path";
import type { Logger, Snapshot } from "@scaph/common";
import { snapshotVmZones } from "@scaph/common";
import type { DeliverySink, VmDelivery } from "./delivery.js";
import { DaemonState } from "./state.js";
import { DirHandle, isMountPoint, openBaseDir } from "./tree.js";
import { VmTree } from "./vm-tree.js";
import type { ZoneSpec } from "@scaph/common";

/** Whether a VM gets a tree: unless libvirt says it has the channel and no share. */
export function treeWanted(vm: { transports?: { channelPath: string | null; share: boolean } }): boolean {
  return !vm.transports || vm.transports.share || vm.transports.channelPath === null;
}

/** Frames per step of a VM's tree, by default (CounterRamp): a reader's window of two steps is then within 5 % (half a frame off at each end: 1/16 of a step, with some room for the writer's lateness). */
export const DEFAULT_SUBSTEPS = 16;

/**
 * The VM tree writer: a sink. For each VM of a Snapshot it adds the VM's
 * gain per zone (computed by the attribution) to its counters and writes
 * `<base>/<name>/` as a powercap tree, whose counters move `substeps` times
 * over the step that follows (VmTree); the counters are kept in the
 * daemon's own state file too, so a restart continues them. It reads
 * nothing of /proc and splits nothing.
 */
export class VmTreeSink implements DeliverySink {
  readonly name = "vm trees";
  private readonly trees = new Map<string, VmTree>();
  private readonly notMounted = new Set<string>();
  private readonly state: DaemonState;
  /** Whether each VM's tree was written at the last step, by key. */
  private readonly treeWritten = new Map<string, boolean>();
  /** Why the base dir could not be opened at the last step (said once), or null. */
  private baseError: string | null = null;
  /** The zones of the last step, and the timer of the trees' frames. */
  private zones: readonly ZoneSpec[] = [];
  private readonly frames = new FrameTimer(
    () => this.nextFrames(),
    () => Math.min(...[...this.trees.values()].map((t) => t.frameS()), 1),
  );

  constructor(private readonly options: { baseDir: string; log: Logger; maxVms: number; substeps?: number }) {
    this.state = DaemonState.load(options.baseDir, options.log);
  }

  write(s: Snapshot): void {
    const zones = (this.zones = snapshotVmZones(s));
    this.treeWritten.clear();
    this.withBase(s.vms.length > 0, (base) => this.writeTrees(s, base, zones));
    this.state.prune(4 * this.options.maxVms);
    this.state.save();
    if ([...this.trees.values()].some((t) => t.busy())) this.frames.kick();
  }

  /** Each VM whose tree the last step wanted: whether it was written. */
  delivered(): ReadonlyMap<string, VmDelivery> {
    const out = new Map<string, VmDelivery>();
    for (const [key, ok] of this.treeWritten) out.set(key, { vm: this.trees.get(key)?.name ?? key, transport: "tree", ok });
    return out;
  }

  /**
   * Stops the frames. Each tree stays as it is shown, a little behind its
   * counters, which the state file holds: the next daemon plays on from the
   * tree (a tree that jumped to its counters would read as a spike).
   */
  close(): void {
    this.frames.stop();
  }

  /** Runs `f` with the base dir open (or null where it cannot be, or `wanted` is false), closing it after. */
  private withBase(wanted: boolean, f: (base: DirHandle | null) => void): void {
    let base: DirHandle | null = null;
    try {
      base = wanted ? openBaseDir(this.options.baseDir) : null;
      if (base && this.baseError !== null) this.options.log.info(`qemu: ${this.options.baseDir} opens again: writing the trees`);
      if (base) this.baseError = null;
    } catch (err) {
      // Said once for each new reason, not at every step: the energy stays counted meanwhile.
      const msg = errorMessage(err);
      if (msg !== this.baseError) this.options.log.warn(`qemu: cannot open ${this.options.baseDir}: ${msg} (energy kept in memory, written when it opens)`);
      this.baseError = msg;
    }
    try {
      f(base);
    } finally {
      base?.close();
    }
  }

  /** Writes each written tree's frame due now; whether any tree has frames left. (A base dir gone meanwhile is not made again: the next step says why.) */
  private nextFrames(): boolean {
    let base: DirHandle;
    try {
      base = DirHandle.open(this.options.baseDir);
    } catch {
      return false;
    }
    let more = false;
    try {
      for (const [key, t] of this.trees) if (this.treeWritten.get(key) && t.nextFrame(base, this.zones)) more = true;
    } finally {
      base.close();
    }
    return more;
  }

  private writeTrees(s: Snapshot, base: DirHandle | null, zones: readonly ZoneSpec[]): void {
    for (const vm of s.vms) {
      if (!treeWanted(vm)) continue;
      let tree = this.trees.get(vm.key);
      if (!tree || tree.name !== vm.name) {
        tree?.close();
        const saved = this.state.counters(vm.key);
        tree = new VmTree(vm.name, this.options.log, saved, this.options.substeps ?? DEFAULT_SUBSTEPS);
        this.trees.set(vm.key, tree);
        this.options.log.info(
          `qemu: VM ${vm.name} (pid ${vm.pid}${vm.uuid ? `, uuid ${vm.uuid}` : ""}${vm.libvirt ? ", libvirt" : ""}) found` +
            (saved ? ", its counters continued from the daemon's state" : ""),
        );
      }
      // A domain whose live XML is not read yet (just started) may have the channel alone: counted, not
      // written, for the step or two until its transports are known. A share whose tmpfs is gone
      // (teardown --force, an unmount) would put the tree on the host's filesystem, where the guest does
      // not see it: counted, not written, until the tmpfs is back.
      const pending = vm.libvirt && !vm.transports;
      const writable = !pending && this.mounted(vm.name, vm.transports?.share === true);
      this.treeWritten.set(vm.key, tree.update(writable ? base : null, zones, vm.zonesUj, s.timestampS, s.intervalS));
      this.state.set(vm.key, vm.name, tree.counters);
    }
    const live = new Set(s.vms.filter(treeWanted).map((v) => v.key));
    const running = new Set(s.vms.map((v) => v.key));
    for (const [key, tree] of this.trees) {
      if (live.has(key)) continue;
      if (running.has(key)) this.options.log.info(`qemu: VM ${tree.name} has the channel and no share: no tree`);
      else this.options.log.info(`qemu: VM ${tree.name} is gone: no longer written (its tree stays until teardown)`);
      tree.close();
      this.trees.delete(key);
    }
    const names = new Set(s.vms.filter(treeWanted).map((v) => v.name));
    for (const n of this.notMounted) if (!names.has(n)) this.notMounted.delete(n);
  }

  /**
   * Whether a VM's dir is its own mount (a tmpfs, as setup makes it). Where it is not: a VM whose
   * XML shares the dir is not written (logged once); any other (no libvirt, a plain qemu) is,
   * with a warning once.
   */
  private mounted(name: string, shared: boolean): boolean {
    const dir = join(this.options.baseDir, name);
    if (isMountPoint(dir)) {
      if (this.notMounted.delete(name) && shared) this.options.log.info(`qemu: ${dir} is a mount point again: writing ${name}'s tree`);
      return true;
    }
    if (!this.notMounted.has(name)) {
      this.notMounted.add(name);
      this.options.log.warn(
        shared
          ? `qemu: ${dir} is not a mount point but ${name}'s XML shares it (its tmpfs is gone: teardown?): not writing there, ` +
              `energy kept until it is; run "scaph-host setup ${name}" to mount it again`
          : `qemu: ${dir} is not a mount point: writing anyway; run "scaph-host setup ${name}" to give the VM its own tmpfs`,
      );
    }
    return !shared;
  }
}
