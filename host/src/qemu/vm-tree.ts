import type { Logger, ZoneSpec } from "@scaph/common";
import { errorMessage, wrapAdd } from "@scaph/common";
import { DirHandle, openChildDir, openVmDir, regularFileAt, shownError, writeInto } from "./tree.js";
import type { WrittenFile } from "./tree.js";
import type { VmCounters } from "./state.js";

export { DEFAULT_MAX_UJ, vmZones } from "@scaph/common";
export type { ZoneSpec } from "@scaph/common";

const same = (a: WrittenFile | null | undefined, b: WrittenFile | null): boolean => !!a && !!b && a.ino === b.ino && a.ctimeMs === b.ctimeMs;

/**
 * One VM's powercap tree under `<base>/<name>`: cumulative counters kept in
 * memory (continued from the daemon's own state after a restart, never read
 * back from the tree, which the guest may write), the tree replaced every
 * step: `energy_uj` always; `name` and `max_energy_range_uj` whenever what
 * is there is not the file this daemon wrote (so anything a guest planted is
 * gone within one step). Energy that cannot be written (full tmpfs,
 * unwritable directory) stays in memory and is written with the next
 * successful step: nothing is lost.
 */
export class VmTree {
  /** Cumulative µJ per zone id: what the tree holds once written. */
  readonly counters: VmCounters;
  /** The name and max files this daemon wrote, by path inside the VM dir. */
  private readonly written = new Map<string, { value: string; file: WrittenFile | null }>();
  private lastError: string | null = null;
  constructor(
    readonly name: string,
    private readonly log: Logger,
    restored?: VmCounters,
  ) {
    this.counters = new Map(restored ?? []);
  }

  /**
   * Adds each zone's gain (wrapping at its max) and writes the tree under
   * `base` (the open base dir). Returns false (and logs once per distinct
   * error) when writing failed.
   */
  update(base: DirHandle | null, zones: readonly ZoneSpec[], gains: ReadonlyMap<string, number>): boolean {
    // gains has every zone of `zones` (both made from the same sub-domain names, attribution/vm-zones.ts)
    for (const z of zones) this.counters.set(z.id, wrapAdd(this.counters.get(z.id) ?? 0, gains.get(z.id) ?? 0, z.maxUj));
    if (base === null) return false; // the base dir itself failed (logged by the sink); the energy stays counted
    // Directories are opened anew each step and closed at its end: a held descriptor would keep the
    // VM's tmpfs busy, and teardown (umount) would fail while the daemon runs.
    let vm: DirHandle | null = null;
    try {
      vm = openVmDir(base, this.name);
      // Sub-zones first, the package last: a reader that sees the package sees the whole tree.
      for (let k = zones.length - 1; k >= 0; k--) this.writeZone(vm, zones[k] as ZoneSpec);
      if (this.lastError !== null) this.log.info(`tree ${this.name}: writing again`);
      this.lastError = null;
      return true;
    } catch (err) {
      const msg = errorMessage(vm ? shownError(err, vm) : err);
      if (msg !== this.lastError) this.log.warn(`tree ${this.name}: ${msg} (energy kept in memory, written at the next step that can)`);
      this.lastError = msg;
      this.written.clear();
      return false;
    } finally {
      vm?.close();
    }
  }

  /** Forgets what it wrote (the VM is gone). */
  close(): void {
    this.written.clear();
  }

  /** Writes `file` with `value` unless what is there is the file this daemon wrote with it. */
  private keep(dir: DirHandle, z: ZoneSpec, file: string, value: string): void {
    const key = `${z.id}/${file}`;
    const mine = this.written.get(key);
    if (mine && mine.value === value && same(mine.file, regularFileAt(dir.at(file)))) return;
    writeInto(dir, file, `${value}\n`, this.log);
    this.written.set(key, { value, file: regularFileAt(dir.at(file)) });
  }

  private writeZone(vm: DirHandle, z: ZoneSpec): void {
    const dir = openChildDir(vm, z.id, this.log);
    try {
      this.keep(dir, z, "name", z.name);
      this.keep(dir, z, "max_energy_range_uj", String(z.maxUj));
      writeInto(dir, "energy_uj", `${this.counters.get(z.id) ?? 0}\n`, this.log);
    } finally {
      dir.close();
    }
  }
}
