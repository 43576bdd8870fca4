import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { CounterPlayer, DEFAULT_MAX_UJ, errorMessage, FrameTimer, HOST_CLOCK_FILE, HOST_CLOCK_TEXT, replaceFile } from "@scaph/common";
import type { Frame, Logger } from "@scaph/common";

/** Frames per host step the channel's tree moves in, by default (CounterPlayer): a reader's window of two steps is then within 5 %. */
export const DEFAULT_GUEST_SUBSTEPS = 16;

/** The counters after one line from the host, the host time (Unix s) they stand for, and the host time the line covers (s). */
export interface Played {
  values: ReadonlyMap<string, number>;
  tS: number;
  coverS: number;
}

/** One zone of the guest's tree. */
export interface TreeZone {
  zone: string;
  name: string;
  value: number;
  max: number;
}

/**
 * The guest's powercap tree, kept from the channel's counters: name,
 * max_energy_range_uj and energy_uj per zone (sub-zones first, the package
 * last: a reader that sees the package sees the whole tree), and the mark
 * that each energy_uj's modification time is the host time of its value.
 * Each host line's energy is played out over the host time it covers, in
 * `substeps` frames (CounterPlayer), so that a reader with a period of its
 * own finds the energy of its window, and the energy of an absence (this
 * agent restarted, lines dropped) comes over as long as the absence lasted,
 * not at once. A tree that cannot be written is logged once per cause; the
 * counters stay in memory for the next frame.
 */
export class GuestTreeWriter {
  private readonly player: CounterPlayer;
  private readonly frames: FrameTimer;
  private zones: TreeZone[] = [];
  private lastError: string | null = null;

  constructor(
    private readonly tree: string,
    private readonly log: Logger,
    substeps = DEFAULT_GUEST_SUBSTEPS,
    /** This process's clock (s); tests give their own. */
    nowS?: () => number,
  ) {
    this.player = new CounterPlayer(substeps, (zone) => this.zones.find((z) => z.zone === zone)?.max ?? DEFAULT_MAX_UJ, nowS);
    this.frames = new FrameTimer(
      () => {
        const f = this.player.frame();
        if (f) this.write(f, false);
        return this.player.busy();
      },
      () => this.player.frameS(),
    );
  }

  /** Where the tree stands (read back at a restart, its `zones`) and the host time of those values: played on from there. */
  resume(values: ReadonlyMap<string, number>, tS: number, zones: readonly TreeZone[]): void {
    if (this.log.enabled("debug")) this.log.debug(`channel: tree resumed at host time ${tS}: ${[...values].map(([z, v]) => `${z}=${v}`).join(" ")}`);
    this.zones = [...zones].sort((a, b) => b.zone.length - a.zone.length || (b.zone < a.zone ? -1 : b.zone > a.zone ? 1 : 0));
    this.player.resume({ values, tS });
  }

  /** Counters (already applied) queued to be played, at host time `tS`, covering `coverS` since the ones before: the frames write them. */
  queue(values: ReadonlyMap<string, number>, tS: number, coverS: number): void {
    if (this.log.enabled("debug"))
      this.log.debug(`channel: tree queued to host time ${tS} over ${coverS} s: ${[...values].map(([z, v]) => `${z}=${v}`).join(" ")}`);
    this.player.push(values, tS, coverS);
    this.frames.kick();
  }

  /**
   * The counters after each line of a commit (lines that came at once when
   * the port opened, or one), each played out over the host time its line
   * covers (the host's step: `stepS`), after what is queued. On a tree no
   * reader has seen yet, the newest are shown at once.
   */
  show(zones: readonly TreeZone[], lines: readonly Played[], stepS: number): void {
    this.zones = [...zones].sort((a, b) => b.zone.length - a.zone.length || (b.zone < a.zone ? -1 : b.zone > a.zone ? 1 : 0));
    for (const l of this.player.latest() === null ? lines.slice(-1) : lines) {
      if (this.log.enabled("debug"))
        this.log.debug(
          `channel: tree plays on to host time ${l.tS} over ${l.coverS} s (step ${stepS} s): ${[...l.values].map(([z, v]) => `${z}=${v}`).join(" ")}`,
        );
      this.player.push(l.values, l.tS, l.coverS, stepS);
    }
    const f = this.player.frame();
    if (f) this.write(f, true);
    this.frames.kick();
  }

  /** The host time of what the tree shows now, or null before any frame. */
  shownS(): number | null {
    return this.player.shownS();
  }

  /** Stops the frames: the tree stays as it is shown (the next receiver plays on from there). */
  stop(): void {
    this.frames.stop();
  }

  private write(frame: Frame, whole: boolean): void {
    try {
      if (whole) replaceFile(this.tree, HOST_CLOCK_FILE, HOST_CLOCK_TEXT);
      for (const z of this.zones) {
        const dir = join(this.tree, z.zone);
        if (whole) {
          mkdirSync(dir, { recursive: true });
          replaceFile(dir, "name", `${z.name}\n`);
          replaceFile(dir, "max_energy_range_uj", `${z.max}\n`);
        }
        replaceFile(dir, "energy_uj", `${frame.values.get(z.zone) ?? z.value}\n`, { mtimeS: frame.tS });
      }
      if (this.lastError !== null) this.log.info(`channel: writing the tree in ${this.tree} again`);
      this.lastError = null;
    } catch (err) {
      const msg = errorMessage(err);
      if (msg !== this.lastError) this.log.warn(`channel: cannot write the tree in ${this.tree}: ${msg} (kept in memory)`);
      this.lastError = msg;
    }
  }
}
