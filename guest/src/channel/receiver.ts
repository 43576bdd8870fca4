import { mkdirSync } from "node:fs";
import { excerpt, LogEvery, parseMessage } from "@scaph/common";
import { applyMessage } from "./counters.js";
import { LineFramer } from "./framing.js";
import type { TreeLock } from "./lock.js";
import { PortReader } from "./port-reader.js";
import type { PortReaderOptions } from "./port-reader.js";
import { catchUpWithTree, loadState, RECENT_S, MAX_RECENT, saveState, treeFrame } from "./state-file.js";
import type { ChannelState, GuestZone } from "./state-file.js";
import { GuestTreeWriter } from "./tree-writer.js";
import type { Played } from "./tree-writer.js";

/** How long after the port opens its lines are taken as one (the host's lines that waited in qemu come at once). */
const CATCH_UP_WINDOW_MS = 3000;
/** Host time between two lines that no line covers, above which the tree stands still over it (s). */
const GAP_S = 0.05;

export interface ReceiverOptions extends PortReaderOptions {
  /** Where the tree is kept (the guest's own tmpfs): /var/scaphandre. */
  tree: string;
  /** The tree's lock, held: the receiver writes only while it is still its own, and releases it when it stops. */
  lock?: TreeLock;
  /** Frames the tree moves in over the host time a line covers (1: each line's counters at once). */
  substeps?: number;
  /** The clock the tree's frames are played by (s); tests give their own. */
  nowS?: () => number;
}

/**
 * The guest side of the channel transport: reads the host's lines from the
 * virtio-serial port and keeps a powercap tree (name, energy_uj,
 * max_energy_range_uj, wrapping at max) that every reader reads unchanged:
 * scaph-guest's exporters, node_exporter's rapl collector, Scaphandre's --vm.
 * Counters continue across everything: the same epoch adds what the host's
 * counter gained since the last line; a new epoch (the host daemon
 * restarted, the VM was restored or migrated to another host) adds its first
 * value; a restart of this agent continues from its state file. Every line
 * is untrusted: at most 4 KiB, checked field by field; a bad one is counted
 * and skipped.
 */
export class ChannelReceiver {
  private readonly state: ChannelState;
  private readonly writer: GuestTreeWriter;
  private readonly framer: LineFramer;
  private readonly reader: PortReader;
  private readonly listeners = new Set<() => void>();
  private running: Promise<void> | null = null;
  private stopped = false;
  private bad = 0;
  /** What the host sent wrong is said at most once a minute, whatever it keeps sending. */
  private readonly badWord = new LogEvery();
  /** Until when (ms) lines are applied and held, not yet committed (the port just opened), how many, and when the last came. */
  private holdUntilMs = 0;
  private held = 0;
  private lastLineMs = 0;
  /** The lines applied since the last commit, each as the counters after it, the host time it stands for and the time it covers; and the host's step. */
  private pending: Played[] = [];
  /** The newest host time given to the tree (Unix s), or null before any. */
  private playedS: number | null = null;
  private lastStepS = 1;

  constructor(private readonly options: ReceiverOptions) {
    mkdirSync(options.tree, { recursive: true });
    this.state = loadState(options.tree, options.log);
    catchUpWithTree(this.state, options.tree, options.log);
    this.framer = new LineFramer((start) => this.refuse("line too long", start));
    this.reader = new PortReader(options);
    this.writer = new GuestTreeWriter(options.tree, options.log, options.substeps ?? 1, options.nowS);
    const shown = treeFrame(this.state, options.tree);
    if (shown) {
      this.writer.resume(shown.values, shown.tS, Object.values(this.state.zones));
      // what the tree had still to show when the receiver before stopped: played on, commit by commit
      let t = shown.tS;
      for (const p of this.state.recent.filter((r) => r.t > shown.tS)) {
        this.writer.queue(new Map(Object.entries(p.zones)), p.t, p.t - t);
        t = p.t;
      }
      this.playedS = t;
    }
  }

  /** The tree's zones, the host's time of the last line applied and the guest's power clock (s), or null before any. */
  get latest(): { t: number; clockS: number; zones: GuestZone[] } | null {
    if (this.state.epoch === null) return null;
    return { t: this.state.t, clockS: this.state.clockS, zones: Object.values(this.state.zones) };
  }

  /** Calls `f` after each commit of lines applied. */
  onApplied(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Reads the port until stop(). One run at a time: a second call returns the first's promise. */
  run(): Promise<void> {
    return (this.running ??= this.reader.run(
      {
        // The lines the host wrote while the port was closed come at once when it opens (in pieces, as qemu's
        // buffers refill): they are taken as one, until a line comes in its own time, so that the tree shows their
        // energy as one span (at once on a new tree; played over the time they cover on one readers saw), not as
        // many steps queued one after another.
        opened: () => {
          this.framer.reset();
          this.holdUntilMs = Date.now() + CATCH_UP_WINDOW_MS;
          this.lastLineMs = 0;
        },
        text: (chunk) => void this.receive(chunk),
        turn: () => {
          if (Date.now() >= this.holdUntilMs) this.release();
        },
        closed: () => this.release(),
      },
      () => this.stopped,
    ));
  }

  /**
   * Stops reading. The tree is left as it is shown (what is not shown yet is
   * in the state file, and the next receiver plays it on from there): a tree
   * that jumped to its newest counters would read as a spike.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.writer.stop();
    this.options.lock?.release();
  }

  /**
   * Takes text as it comes from the port, in any chunks: applies each whole
   * line, and writes the tree once for all it applied (a reader sees the
   * newest total); returns the lines applied.
   */
  receive(chunk: string): number {
    let applied = 0;
    for (const line of this.framer.push(chunk)) if (this.line(line)) applied++;
    if (applied > 0) {
      this.held += applied;
      if (Date.now() >= this.holdUntilMs) this.release();
    }
    return applied;
  }

  /** Applies one line from the host to the counters (not yet to the tree); whether it counted. */
  private line(line: string): boolean {
    const r = parseMessage(line);
    if (!r.ok) {
      this.refuse(r.why, line);
      return false;
    }
    const before = new Map(Object.values(this.state.zones).map((z) => [z.zone, z.value]));
    const a = applyMessage(this.state, r.message, this.options.log, (msg) => this.warnLimited(msg));
    if ("refused" in a) {
      if (a.refused !== null) this.refuse(a.refused, `${r.message.zones.length} zones`);
      return false;
    }
    this.heldLine(a.coverS);
    // Host time that no line covers (a new epoch that began after the last line: the daemon was away, the VM saved):
    // the tree stands still over it, and shows this line's energy over the time the line covers.
    const startS = r.message.t - a.coverS;
    if (this.playedS !== null && startS > this.playedS + GAP_S) this.pending.push({ values: before, tS: startS, coverS: startS - this.playedS });
    this.playedS = Math.max(this.playedS ?? r.message.t, r.message.t);
    this.pending.push({ values: new Map(Object.values(this.state.zones).map((z) => [z.zone, z.value])), tS: r.message.t, coverS: a.coverS });
    if (r.message.step_s > 0) this.lastStepS = r.message.step_s;
    return true;
  }

  /** While lines are held: a line that comes in its own time (half its host time after the one before) ends the hold. */
  private heldLine(coverS: number): void {
    const now = Date.now();
    if (this.holdUntilMs > 0 && this.lastLineMs > 0 && now - this.lastLineMs >= 500 * coverS) this.holdUntilMs = now;
    this.lastLineMs = now;
  }

  /** Commits the lines held since the port opened. */
  private release(): void {
    this.holdUntilMs = 0;
    if (this.held > 0) this.commit();
    this.held = 0;
  }

  private refuse(why: string, line: string): void {
    this.bad++;
    this.warnLimited(`channel: ${this.bad} bad line(s) skipped, the last: ${why} (${excerpt(line)})`);
  }

  /** A warning about what the host sent: at most one a minute, whatever it keeps sending. */
  private warnLimited(msg: string): void {
    if (this.badWord.due()) this.options.log.warn(msg);
  }

  /** Writes the tree (its frames over the host time the lines covered), then the state, and tells the listeners. */
  private commit(): void {
    if (this.options.lock && !this.options.lock.stillHeld()) {
      // Another receiver took the tree (it found our lock stale): two writers would each count from their own state.
      this.options.log.error(`channel: another receiver took ${this.options.tree}'s lock: this one stops, and writes nothing more`);
      this.stop();
      return;
    }
    // Each line's energy over the host time it covers, as the host sent it (a batch that came at once when the port
    // opened too: spread evenly, a minute of varied power would show its mean at host times that drew less). The
    // tree's frames carry the host's time of their lines: what a reader of the tree compares with the host.
    this.writer.show(Object.values(this.state.zones), this.pending, this.lastStepS);
    // what the tree has still to show, for a receiver that starts before it did: kept in host time's order, every
    // commit the tree has not shown yet (however late it runs, within RECENT_S), none it has
    const shownS = this.writer.shownS() ?? -Infinity;
    let recent = this.state.recent.filter((p) => p.t > Math.max(this.state.t - RECENT_S, shownS));
    for (const p of this.pending) {
      const zones = Object.fromEntries(p.values);
      recent = recent.length > 0 && recent.at(-1)!.t >= p.tS ? [...recent.slice(0, -1), { t: recent.at(-1)!.t, zones }] : [...recent, { t: p.tS, zones }];
    }
    this.state.recent = recent.slice(-MAX_RECENT);
    this.pending = [];
    saveState(this.options.tree, this.state, this.options.log);
    for (const f of this.listeners) f();
  }
}
