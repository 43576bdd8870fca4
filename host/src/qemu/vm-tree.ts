import type { Frame, Logger, ZoneSpec } from "@scaph/common";
import { CounterPlayer, DEFAULT_MAX_UJ, errorMessage, HOST_CLOCK_FILE, HOST_CLOCK_TEXT, parseUj, readBounded, wrapAdd } from "@scaph/common";
import { openChildDir, openVmDir, shownError, writeInto } from "./tree.js";
import type { DirHandle, WrittenFile } from "./tree.js";
import type { VmCounters } from "./state.js";

const same = (a: WrittenFile | null | undefined, b: WrittenFile | null): boolean => !!a && !!b && a.ino === b.ino && a.ctimeMs === b.ctimeMs;

/**
 * One VM's powercap tree under `<base>/<name>`: cumulative counters kept in
 * memory (continued from the daemon's own state after a restart, never read
 * back from the tree, which the guest may write), the tree replaced every
 * step: `energy_uj` always; `name`, `max_energy_range_uj` and the host
 * clock's mark whenever what is there is not the file this daemon wrote
 * (so anything a guest planted is gone within one step). Energy that cannot
 * be written (full tmpfs, unwritable directory) stays in memory and is
 * written with the next successful step: nothing is lost.
 *
 * Each step's energy is played out over the step after it, in `substeps`
 * frames (CounterPlayer), so that a reader with its own clock finds in its
 * window the energy of that window, not one step more or less; each
 * energy_uj carries, as its modification time, the host time of its value.
 */
export class VmTree {
  /** Cumulative µJ per zone id: what the tree holds once written. */
  readonly counters: VmCounters;
  /** The name and max files this daemon wrote, by path inside the VM dir. */
  private readonly ownFiles = new Map<string, { value: string; file: WrittenFile | null }>();
  private lastError: string | null = null;
  private readonly maxUj = new Map<string, number>();
  private readonly player: CounterPlayer;
  private readonly restored: boolean;
  constructor(
    readonly name: string,
    private readonly log: Logger,
    restored?: VmCounters,
    substeps = 1,
  ) {
    this.counters = new Map(restored ?? []);
    this.restored = restored !== undefined;
    this.player = new CounterPlayer(substeps, (zone) => this.maxUj.get(zone) ?? DEFAULT_MAX_UJ);
  }

  /**
   * Adds each zone's gain (wrapping at its max) over the step of `coverS`
   * seconds that ended at host time `tS`, and writes the tree under `base`
   * (the open base dir) as it stands now. Returns false (and logs once per
   * distinct error) when writing failed.
   */
  update(base: DirHandle | null, zones: readonly ZoneSpec[], gains: ReadonlyMap<string, number>, tS: number, coverS: number): boolean {
    // Counters continued from the daemon's state are played on from where the tree stands (the daemon before
    // left it a little behind them), or from them.
    if (this.restored && this.player.latest() === null) {
      const shown = base && this.shownInTree(base, zones, tS);
      this.player.resume(shown ?? { values: new Map(this.counters), tS: tS - coverS });
    }
    // gains has every zone of `zones` (both made from the same sub-domain names, attribution/vm-zones.ts)
    for (const z of zones) {
      this.maxUj.set(z.id, z.maxUj);
      this.counters.set(z.id, wrapAdd(this.counters.get(z.id) ?? 0, gains.get(z.id) ?? 0, z.maxUj));
    }
    this.player.push(this.counters, tS, coverS, coverS);
    if (base === null) return false; // the base dir itself failed (logged by the sink); the energy stays counted
    const frame = this.player.frame();
    return frame === null || this.show(base, zones, frame, true);
  }

  /**
   * What the tree shows now, read back, if it is what a daemon before this
   * one left: each zone at most its counter, and behind it by less than a
   * sixteenth of its range, its time (the files' modification time) within
   * the hour before `nowS`. The guest may write the tree: anything else is
   * not taken (the counters are never read back; this is only where the
   * playback starts).
   */
  private shownInTree(base: DirHandle, zones: readonly ZoneSpec[], nowS: number): Frame | null {
    let vm: DirHandle | null = null;
    try {
      vm = openVmDir(base, this.name);
      const out = new Map<string, number>();
      let ms = 0;
      for (const z of zones) {
        const counter = this.counters.get(z.id);
        const dir = vm.openChild(z.id); // never through a link the guest planted
        const r = readBounded(dir.at("energy_uj"), 64);
        dir.close();
        const v = r.ok ? parseUj(r.text) : null;
        if (!r.ok || counter === undefined || v === null || v > counter || counter - v > z.maxUj / 16) return null;
        out.set(z.id, v);
        ms = Math.max(ms, r.mtimeMs);
      }
      return ms / 1000 <= nowS && ms / 1000 > nowS - 3600 ? { values: out, tS: ms / 1000 } : null;
    } catch {
      return null;
    } finally {
      vm?.close();
    }
  }

  /** Writes the frame due now (energy_uj only), if any; whether frames remain. */
  nextFrame(base: DirHandle, zones: readonly ZoneSpec[]): boolean {
    const frame = this.player.frame();
    if (frame !== null) this.show(base, zones, frame, false);
    return this.player.busy();
  }

  /** Whether frames remain to be written. */
  busy(): boolean {
    return this.player.busy();
  }

  /** The span of a frame now (s). */
  frameS(): number {
    return this.player.frameS();
  }

  private show(base: DirHandle, zones: readonly ZoneSpec[], frame: Frame, whole: boolean): boolean {
    // Directories are opened anew each time and closed at its end: a held descriptor would keep the
    // VM's tmpfs busy, and teardown (umount) would fail while the daemon runs.
    let vm: DirHandle | null = null;
    try {
      vm = openVmDir(base, this.name);
      if (whole) this.keep(vm, HOST_CLOCK_FILE, HOST_CLOCK_TEXT);
      // Sub-zones first, the package last: a reader that sees the package sees the whole tree.
      for (let k = zones.length - 1; k >= 0; k--) this.writeZone(vm, zones[k] as ZoneSpec, frame, whole);
      if (this.lastError !== null) this.log.info(`tree ${this.name}: writing again`);
      this.lastError = null;
      return true;
    } catch (err) {
      const msg = errorMessage(vm ? shownError(err, vm) : err);
      if (msg !== this.lastError) this.log.warn(`tree ${this.name}: ${msg} (energy kept in memory, written at the next step that can)`);
      this.lastError = msg;
      this.ownFiles.clear();
      return false;
    } finally {
      vm?.close();
    }
  }

  /** Forgets what it wrote (the VM is gone). */
  close(): void {
    this.ownFiles.clear();
  }

  /** Writes `file` (a path inside the VM dir) with `content` unless what is there is the file this daemon wrote with it. */
  private keep(dir: DirHandle, file: string, content: string, key = file): void {
    const mine = this.ownFiles.get(key);
    if (mine && mine.value === content && same(mine.file, dir.regularFile(file))) return;
    writeInto(dir, file, content, this.log);
    this.ownFiles.set(key, { value: content, file: dir.regularFile(file) });
  }

  private writeZone(vm: DirHandle, z: ZoneSpec, frame: Frame, whole: boolean): void {
    const dir = openChildDir(vm, z.id, this.log);
    try {
      if (whole) {
        this.keep(dir, "name", `${z.name}\n`, `${z.id}/name`);
        this.keep(dir, "max_energy_range_uj", `${z.maxUj}\n`, `${z.id}/max_energy_range_uj`);
      }
      writeInto(dir, "energy_uj", `${frame.values.get(z.id) ?? 0}\n`, this.log, frame.tS);
    } finally {
      dir.close();
    }
  }
}
