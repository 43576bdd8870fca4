import { counterDelta, wrapAdd } from "./counter.js";
import type { Microjoules } from "../units.js";

/** What a tree shows at one moment: each zone's counter, and the host time (Unix s) that it stands for. */
export interface Frame {
  values: ReadonlyMap<string, Microjoules>;
  tS: number;
}

/**
 * Spreads each step's energy over the step that follows it, so that a tree
 * moves as RAPL's counters do (often, a little) rather than once a step by
 * a whole step's energy. A reader with a clock and a period of its own
 * (node_exporter's rapl collector, Scaphandre or Kepler inside a VM) then
 * finds in any window of P host steps the energy of P steps, within 1/n of
 * a step (n sub-steps), instead of P ± 1 steps.
 *
 * At each step the writer hands the new counters to target() and writes the
 * frame it returns; in between, it writes frame(j) for j = 1..n-1. Frame j
 * stands halfway into the j-th n-th of the way from the previous step's
 * counters to the new ones (so that a reader between two frames is at most
 * half a frame off, either way, rather than a whole frame behind). So the
 * tree shows each step's energy one step late, all of it, and never goes
 * back; stopping, the writer writes latest(), and nothing is left unshown.
 * Each frame carries the host time it stands for, which a reader of
 * scaph's own can use as the time of its values.
 */
export class CounterRamp {
  private from: Frame | null = null;
  private to: Frame | null = null;

  /** `substeps` frames per step (1: no ramp, each step shown whole at the next); `maxOf`: each zone's wrap point. */
  constructor(
    readonly substeps: number,
    private readonly maxOf: (zone: string) => Microjoules,
  ) {}

  /**
   * A step's counters and host time: returns the frame to write now (frame
   * 0 of the way from the last step's counters to these; the first time,
   * these whole). With one sub-step, no ramp: this step's, at once.
   */
  target(values: ReadonlyMap<string, Microjoules>, tS: number): Frame {
    const now: Frame = { values: new Map(values), tS };
    this.from = this.substeps <= 1 ? now : (this.to ?? now);
    this.to = now;
    return this.frame(0) ?? now;
  }

  /** Frame j (0 <= j < substeps) on the way to the newest target, or null when there is no ramp. */
  frame(j: number): Frame | null {
    const { from, to } = this;
    if (!from || !to || from === to || j < 0 || j >= this.substeps) return null;
    const part = (2 * j + 1) / (2 * this.substeps);
    const values = new Map<string, Microjoules>();
    for (const [zone, target] of to.values) {
      const start = from.values.get(zone);
      if (start === undefined) {
        values.set(zone, target); // a zone new in this step: shown as it is
        continue;
      }
      const max = this.maxOf(zone);
      values.set(zone, wrapAdd(start, Math.floor(counterDelta(start, target, max) * part), max));
    }
    return { values, tS: from.tS + (to.tS - from.tS) * part };
  }

  /** The newest target, whole: what a writer that stops writes last. */
  latest(): Frame | null {
    return this.to;
  }
}
