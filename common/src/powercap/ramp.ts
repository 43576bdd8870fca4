import { counterDelta, wrapAdd } from "./counter.js";
import type { Microjoules } from "../units.js";

/** What a tree shows at one moment: each zone's counter, and the host time (Unix s) that it stands for. */
export interface Frame {
  values: ReadonlyMap<string, Microjoules>;
  tS: number;
}

/** One stretch of the playback: from one frame to the next counters, over `durS` seconds of this process's clock from `startS`. */
interface Segment {
  from: Frame;
  to: Frame;
  startS: number;
  durS: number;
}

/** The longest gap between two pushes played over as long as it lasted (s); a longer one (a clock stepped) is played over what the push covers. */
const MAX_GAP_S = 600;

/**
 * A pause of the writer's process longer than this (s; or 4 frames, if
 * longer) is a stall (starved of CPU, a long GC): the tree goes on from
 * where it stood, not at once to where it would be.
 */
export const STALL_S = 0.25;

/** How much faster than the host's own time a backlog is played (a tree late after its writer was away). */
export const CATCH_UP = 1.015;

/**
 * Plays a tree's counters out over time, so that the tree moves as RAPL's
 * counters do (often, a little) rather than once a step by a whole step's
 * energy, and never in a jump: a reader with a clock and a period of its
 * own (node_exporter's rapl collector, Scaphandre or Kepler in a VM) then
 * finds in any window of P steps the energy of P steps, within about
 * 1/(2n·P) (n frames a step), instead of P ± 1 steps.
 *
 * Each new set of counters (push) covers some host time: a step, or the
 * time its writer was away (a receiver restarted, lines dropped). It is
 * played out over as long, after what is queued before it, so the tree
 * shows each step's energy a step late, and after an absence, the energy of
 * the absence over as long as it lasted rather than at once. A backlog of
 * more than two steps is played 1.5 % fast (CATCH_UP) until it is gone: a
 * reader sees at most 1.5 % more than the host attributed (with the
 * frames' half frame, within 5 % at a window of two steps), never a jump.
 * frame() gives what to write at the moment it is called (the middle of the
 * frame's span, so that a reader between two frames is half a frame off at
 * most, either way); latest() the newest counters whole, for a writer that
 * stops (nothing is left unshown). Each frame carries the host time it
 * stands for, which a reader of scaph's own takes as the time of its
 * values. With one frame a step, each push is shown at once. A writer
 * that stalls (no frame for STALL_S while frames remained) is not caught up
 * at once, which a reader would read as a jump: the playback is put off by
 * the stall, and the tree is late by as long (caught up as a backlog).
 */
export class CounterPlayer {
  private segments: Segment[] = [];
  /** The last push played out whole (or the frame resumed from). */
  private shown: Frame | null = null;
  /** The newest push. */
  private last: Frame | null = null;
  /** The frame frame() gave last. */
  private given: Frame | null = null;
  /** The host's steps of the last pushes (s): the shortest, which frames divide. */
  private readonly spans: number[] = [];
  /** When (this process's clock, s) the playback was last looked at while frames remained; null when idle. */
  private playedAtS: number | null = null;

  /** `framesPerStep`: frames over a push's span; `maxOf`: each zone's wrap point; `nowS`: this process's clock (s). */
  constructor(
    readonly framesPerStep: number,
    private readonly maxOf: (zone: string) => Microjoules,
    private readonly nowS: () => number = () => performance.now() / 1000,
  ) {}

  /** Where the tree stands before any push (read back at a restart): played on from there. */
  resume(f: Frame): void {
    if (this.last === null) this.shown = this.last = f;
  }

  /**
   * New counters at host time `tS`, covering `coverS` seconds of host time
   * since the counters before; `stepS`, the host's step (frames divide it;
   * a push after an absence covers more than one).
   */
  push(values: ReadonlyMap<string, Microjoules>, tS: number, coverS: number, stepS = coverS): void {
    const from = this.last;
    // The host time shown never goes back: a line that stands for a time already shown (a migration's destination
    // sends, once the VM runs there, the lines of the time both hosts ran it) is played at the time reached.
    const to: Frame = { values: new Map(values), tS: from !== null && from.tS > tS ? from.tS : tS };
    this.last = to;
    if (from === null || this.framesPerStep <= 1 || !(coverS > 0)) {
      this.segments = [];
      this.shown = to;
      return;
    }
    if (stepS > 0) this.spans.push(stepS);
    if (this.spans.length > 8) this.spans.shift();
    const now = this.nowS();
    this.settle(now);
    const prevEnd = this.segments.reduce((e, s) => Math.max(e, s.startS + s.durS), now);
    const backlog = prevEnd - now;
    // Played over the host time it spans, where that is more than it says it covers (from a frame resumed
    // behind its counters, or across a gap no line covered), within reason: never faster than the host drew it.
    const spanS = to.tS - from.tS > coverS && to.tS - from.tS < coverS + MAX_GAP_S ? to.tS - from.tS : coverS;
    // A push that adds no energy (host time no line covered: a daemon away, a VM saved) is passed in a frame: no
    // reader can read a spike in it, and the tree does not fall behind by it.
    const flat = [...to.values].every(([zone, v]) => from.values.get(zone) === v);
    const durS = flat ? Math.min(spanS, this.frameS()) : backlog > 2 * spanS ? spanS / CATCH_UP : spanS;
    this.segments.push({ from, to, startS: prevEnd, durS });
    this.playedAtS = now;
  }

  /** After a stall (frames remained, and none was looked at for STALL_S), what remains is put off by the stall. */
  private settle(now: number): void {
    if (this.playedAtS !== null && this.segments.length > 0) {
      const gap = now - this.playedAtS;
      if (gap > Math.max(STALL_S, 4 * this.frameS())) for (const s of this.segments) s.startS += gap - this.frameS();
    }
    this.playedAtS = this.segments.length > 0 ? now : null;
  }

  /** The host time of what the tree shows (the last frame given), or null before any. */
  shownS(): number | null {
    return (this.given ?? this.shown)?.tS ?? null;
  }

  /** Whether frames remain to be shown. */
  busy(): boolean {
    return this.segments.length > 0;
  }

  /** The span of one frame (s): the host's step (the shortest of the last pushes' spans) over its frames. */
  frameS(): number {
    return (this.spans.length > 0 ? Math.min(...this.spans) : 1) / this.framesPerStep;
  }

  /**
   * What to show now (the middle of the frame about to be shown), or null
   * when nothing changed since the last frame given. The last frame of a
   * push is its counters whole.
   */
  frame(): Frame | null {
    const now = this.nowS();
    this.settle(now);
    const t = now + this.frameS() / 2;
    while (this.segments.length > 0 && this.segments[0]!.startS + this.segments[0]!.durS <= t) this.shown = this.segments.shift()!.to;
    const s = this.segments[0];
    if (!s || t <= s.startS) {
      if (this.shown === this.given) return null;
      return (this.given = this.shown);
    }
    const part = (t - s.startS) / s.durS;
    const values = new Map<string, Microjoules>();
    for (const [zone, target] of s.to.values) {
      const start = s.from.values.get(zone);
      if (start === undefined) {
        values.set(zone, target); // a zone new in this push: shown as it is
        continue;
      }
      const max = this.maxOf(zone);
      values.set(zone, wrapAdd(start, Math.floor(counterDelta(start, target, max) * part), max));
    }
    return (this.given = { values, tS: s.from.tS + (s.to.tS - s.from.tS) * part });
  }

  /** The newest counters, whole: what a writer that stops writes last. */
  latest(): Frame | null {
    return this.last;
  }
}

/**
 * Calls `tick` every `everyS()` seconds while it says more frames remain,
 * from a kick() until then; the timer never keeps the process running.
 */
export class FrameTimer {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly tick: () => boolean,
    private readonly everyS: () => number,
  ) {}

  kick(): void {
    if (this.timer === null) this.schedule();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (this.tick()) this.schedule();
      },
      Math.max(1, this.everyS() * 1000),
    );
    this.timer.unref();
  }
}
