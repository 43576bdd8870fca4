import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { CounterRamp, DEFAULT_MAX_UJ, errorMessage, HOST_CLOCK_FILE, HOST_CLOCK_TEXT, replaceFile } from "@scaph/common";
import type { Frame, Logger } from "@scaph/common";

/** Frames per host step the channel's tree moves in, by default (CounterRamp): a reader's window of two steps is then within 5 %. */
export const DEFAULT_GUEST_SUBSTEPS = 16;

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
 * Each host line's energy is shown over the host time it covers, in
 * `substeps` frames (CounterRamp), so that a reader with a period of its own
 * finds the energy of its window; stopping, the newest counters are written
 * whole. A tree that cannot be written is logged once per cause; the
 * counters stay in memory for the next frame.
 */
export class GuestTreeWriter {
  private readonly ramp: CounterRamp;
  private zones: TreeZone[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastError: string | null = null;

  constructor(
    private readonly tree: string,
    private readonly log: Logger,
    substeps = DEFAULT_GUEST_SUBSTEPS,
  ) {
    this.ramp = new CounterRamp(substeps, (zone) => this.zones.find((z) => z.zone === zone)?.max ?? DEFAULT_MAX_UJ);
  }

  /** The counters after a line (or a batch of lines), standing for host time `tS`: shown over the next `coverS` seconds. */
  show(zones: readonly TreeZone[], tS: number, coverS: number): void {
    this.stopFrames();
    this.zones = [...zones].sort((a, b) => b.zone.length - a.zone.length || b.zone.localeCompare(a.zone));
    this.write(this.ramp.target(new Map(zones.map((z) => [z.zone, z.value])), tS), true);
    const n = this.ramp.substeps;
    if (n <= 1 || !(coverS > 0)) return;
    let j = 0;
    const next = (): void => {
      const f = this.ramp.frame(++j);
      if (f) this.write(f, false);
      this.timer = j + 1 < n ? setTimeout(next, (coverS * 1000) / n) : null;
      this.timer?.unref();
    };
    this.timer = setTimeout(next, (coverS * 1000) / n);
    this.timer.unref();
  }

  /** Writes the newest counters whole and stops the frames (the receiver stops: nothing is left unshown). */
  flush(): void {
    this.stopFrames();
    const f = this.ramp.latest();
    if (f) this.write(f, true);
  }

  private stopFrames(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
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
        replaceFile(dir, "energy_uj", `${frame.values.get(z.zone) ?? z.value}\n`, undefined, frame.tS);
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
