import { closeSync, constants, mkdirSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import {
  CHANNEL_MAX_LINE,
  counterDelta,
  errnoCode,
  isCounterReset,
  errorMessage,
  excerpt,
  parseMessage,
  parseUj,
  readBounded,
  replaceFile,
  wrapAdd,
  ZONE_ID_RE,
  ZONE_NAME_RE,
} from "@scaph/common";
import type { ChannelMessage, Logger } from "@scaph/common";
import type { TreeLock } from "./lock.js";
import { GuestTreeWriter } from "./tree-writer.js";

/** The receiver's own memory, beside the tree it keeps: where each counter stands, and the host's last line. */
export const CHANNEL_STATE_FILE = ".scaph-channel.json";

/** One zone of the guest's tree. */
export interface GuestZone {
  zone: string;
  name: string;
  /** The guest's counter (what its tree's energy_uj holds once shown), wrapping at max. */
  value: number;
  max: number;
}

/** Where one of the host's epochs stands: its last line applied. */
interface EpochState {
  epoch: string;
  seq: number;
  /** The host's time of that line (Unix s). */
  t: number;
  /** The host's counters in that line, by zone. */
  host: Record<string, number>;
}

interface State {
  /** The epoch of the last line applied. */
  epoch: string | null;
  /** The host's time of the last line applied (Unix s). */
  t: number;
  /**
   * The guest's power clock (s): the sum of the host time each applied line
   * covers. It only goes forward, whatever the hosts' clocks do (a
   * migration between hosts whose clocks differ, a clock stepped back),
   * so power over it is never above what the host sent for that time.
   */
  clockS: number;
  /**
   * The counters after each of the last commits, with the host time of their
   * last line: what the tree has still to show, when it runs late. A
   * receiver that starts again plays the tree on through them from where it
   * stands, step by step as they came, not as one even span.
   */
  recent: { t: number; zones: Record<string, number> }[];
  /** The most recent epochs (MAX_EPOCHS, the last used last), so lines of two epochs that overlap (a live migration's hand-off) count once each. */
  epochs: EpochState[];
  zones: Record<string, GuestZone>;
}

/**
 * Zones the guest's tree may hold. A real host has a package and a few
 * sub-domains per socket (a line carries at most 16 zones): a host that
 * names new zones at every line gets no more than this, so the tree, the
 * state file (read back at most 64 KiB) and the work per line stay small.
 */
export const MAX_TREE_ZONES = 32;
/**
 * Epochs remembered: the current one, the one before (a migration's source),
 * and many more, so that lines of an epoch seen before never count again
 * as a new epoch's (five epochs in rotation once counted 30 J for 15 J);
 * the state file stays a few KiB.
 */
export const MAX_EPOCHS = 64;
/** How long to wait before looking for the port, or opening it, again: a port hot-plugged back, or opened again after a migration, is read within this. */
const RETRY_MS = 500;
/** How long after the port opens its lines are taken as one (the host's lines that waited in qemu come at once). */
const CATCH_UP_WINDOW_MS = 3000;
/** The longest state file read back: MAX_EPOCHS epochs and MAX_RECENT commits of MAX_TREE_ZONES zones fit. */
const STATE_BOUND = 256 * 1024;
/** Commits remembered (MAX_RECENT, RECENT_S of host time) for a tree that runs late: a receiver that restarts plays them on. */
const MAX_RECENT = 60;
const RECENT_S = 600;
/** What one line may cover, s: the host's time is trusted, but a bogus one must not freeze the clock (a day). */
const MAX_COVER_S = 86_400;
/**
 * The most power one zone may show, W: above any socket's RAPL domain and any whole host. The host is
 * trusted, but a gain beyond this over the time a line covers (a counter that jumped, a bogus first
 * value) is cut to it and logged: the guest never shows a spike no host could draw.
 */
export const MAX_ZONE_WATTS = 10_000;
/** What a line covers when the host's times cannot tell (no t0, no step): a second. */
const DEFAULT_COVER_S = 1;

/**
 * The host time a line covers, s, in (0, MAX_COVER_S]: since the same
 * epoch's line before it, or for an epoch's first line since the epoch
 * began (`t0`); where the host's clock went back or says nothing, the step.
 */
export function coveredS(m: ChannelMessage, before: EpochState | undefined): number {
  const since = before ? m.t - before.t : m.t0 !== undefined ? m.t - m.t0 : NaN;
  const s = since > 0 ? since : m.step_s > 0 ? m.step_s : DEFAULT_COVER_S;
  return Math.min(s, MAX_COVER_S);
}

export interface ReceiverOptions {
  /** Where the tree is kept (the guest's own tmpfs): /var/scaphandre. */
  tree: string;
  /** The port's device, found anew each time it is opened (it may be hot-plugged), or null while there is none. */
  port: () => string | null;
  log: Logger;
  /** How long to wait before looking for the port or opening it again. */
  retryMs?: number;
  /** How often an open port with nothing to read is read again. */
  pollMs?: number;
  /** Whether the receiver alone keeps the process running (scaph-guest channel); beside an exporter's loop, it does not. */
  keepAlive?: boolean;
  /** The tree's lock, held: the receiver writes only while it is still its own, and releases it when it stops. */
  lock?: TreeLock;
  /** Opens the port (non-blocking, read-only); the default is open(2). */
  openPort?: (path: string) => number;
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
  private state: State;
  private stopped = false;
  private bad = 0;
  private lastBadLogMs = 0;
  private readonly listeners = new Set<() => void>();
  /** Lines applied since start. */
  applied = 0;
  /** Why the port could not be opened the last time, said once until it changes. */
  private lastOpenError: string | null = null;
  /** Until when (ms) lines are applied and held, not yet committed (the port just opened), how many, and when the last came. */
  private holdUntilMs = 0;
  private held = 0;
  private lastLineMs = 0;

  private readonly writer: GuestTreeWriter;
  /** The host time the lines of the last commit covered (s): the next frames spread over it; and the host's step. */
  private lastCoverS = 0;
  private lastStepS = 1;

  constructor(private readonly o: ReceiverOptions) {
    mkdirSync(o.tree, { recursive: true });
    this.state = this.load();
    this.catchUpWithTree();
    this.writer = new GuestTreeWriter(o.tree, o.log, o.substeps ?? 1, o.nowS);
    const shown = this.treeFrame();
    if (shown) {
      this.writer.resume(shown.values, shown.tS, Object.values(this.state.zones));
      // what the tree had still to show when the receiver before stopped: played on, commit by commit
      let t = shown.tS;
      for (const p of this.state.recent.filter((r) => r.t > shown.tS)) {
        this.writer.queue(new Map(Object.entries(p.zones)), p.t, p.t - t);
        t = p.t;
      }
    }
  }

  /**
   * The tree as readers see it now (an earlier run's last frame), where every
   * zone of the state reads back, at most the state's counter: the frames
   * go on from there. Its host time is the files' modification time.
   */
  private treeFrame(): { values: Map<string, number>; tS: number } | null {
    const values = new Map<string, number>();
    let ms = 0;
    for (const z of Object.values(this.state.zones)) {
      const r = readBounded(join(this.o.tree, z.zone, "energy_uj"), 64);
      const v = r.ok ? parseUj(r.text) : null;
      if (!r.ok || v === null || v >= z.max || counterDelta(v, z.value, z.max) > z.max / 2) return null;
      values.set(z.zone, v);
      ms = Math.max(ms, r.mtimeMs);
    }
    return values.size > 0 ? { values, tS: ms / 1000 } : null;
  }

  /** The tree's zones, the host's time of the last line applied and the guest's power clock (s), or null before any. */
  get latest(): { t: number; clockS: number; zones: GuestZone[] } | null {
    if (this.state.epoch === null) return null;
    return { t: this.state.t, clockS: this.state.clockS, zones: Object.values(this.state.zones) };
  }

  /** Calls `f` after each line applied. */
  onApplied(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private running: Promise<void> | null = null;

  /** Reads the port until stop(): finds it (it may appear later), reads lines, opens it again when it ends. One run at a time: a second call returns the first's promise. */
  run(): Promise<void> {
    return (this.running ??= this.loop());
  }

  private async loop(): Promise<void> {
    const retry = this.o.retryMs ?? RETRY_MS;
    let said = false;
    while (!this.stopped) {
      const port = this.o.port();
      if (!port) {
        if (!said) this.o.log.info("channel: no port yet (set up with scaph-host setup --transport channel, hot-plugged or at the next boot): waiting");
        said = true;
        await sleep(retry, this.o.keepAlive);
        continue;
      }
      said = false;
      await this.readPort(port);
      if (!this.stopped) await sleep(retry, this.o.keepAlive); // the host end is not connected (EOF), or the port went away
    }
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
    this.o.lock?.release();
  }

  /**
   * Reads the port until it ends (the host end not connected reads as end of
   * file) or stop(). Non-blocking reads on this thread, drained and then
   * polled every pollMs: a read blocked in libuv's thread pool could not be
   * interrupted, and would even keep the process from exiting.
   */
  private async readPort(port: string): Promise<void> {
    let fd: number;
    try {
      fd = (this.o.openPort ?? openPortRdonly)(port);
    } catch (err) {
      // Once per cause, not at every retry: a port another process holds (EBUSY) is tried again each second.
      const why = `${port}: ${errorMessage(err)}`;
      if (why !== this.lastOpenError) this.o.log.warn(`channel: ${why} (tried again every ${(this.o.retryMs ?? RETRY_MS) / 1000} s)`);
      this.lastOpenError = why;
      return;
    }
    if (this.lastOpenError !== null) this.o.log.info(`channel: ${port} open again`);
    this.lastOpenError = null;
    const buf = Buffer.alloc(CHANNEL_MAX_LINE);
    this.partial = "";
    this.skipping = false;
    // The lines the host wrote while the port was closed come at once when it opens (in pieces, as qemu's
    // buffers refill): they are taken as one, until a line comes in its own time, so that the tree shows their
    // energy as one span (at once on a new tree; played over the time they cover on one readers saw), not as
    // many steps queued one after another.
    this.holdUntilMs = Date.now() + CATCH_UP_WINDOW_MS;
    this.lastLineMs = 0;
    try {
      while (!this.stopped) {
        let n: number;
        try {
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (err) {
          if (errnoCode(err) === "EAGAIN") {
            if (Date.now() >= this.holdUntilMs) this.release();
            await sleep(this.o.pollMs ?? 100, this.o.keepAlive);
            continue;
          }
          this.o.log.warn(`channel: ${port}: ${errorMessage(err)}`);
          return;
        }
        if (n === 0) return; // the host end is not connected
        this.receive(buf.toString("utf8", 0, n));
        if (Date.now() >= this.holdUntilMs) this.release();
        // The event loop gets its turn after each read: a host (or a guest process) that never stops writing
        // cannot starve a signal, an exporter's loop or its HTTP server.
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      closeSync(fd);
      this.release();
    }
  }

  /** Commits the lines held since the port opened. */
  private release(): void {
    this.holdUntilMs = 0;
    if (this.held > 0) this.commit(this.held);
    this.held = 0;
  }

  private refuse(why: string, line: string): void {
    this.bad++;
    this.warnLimited(`channel: ${this.bad} bad line(s) skipped, the last: ${why} (${excerpt(line)})`);
  }

  /** A warning about what the host sent: at most one a minute, whatever it keeps sending. */
  private warnLimited(msg: string): void {
    const now = Date.now();
    if (now - this.lastBadLogMs < 60_000) return;
    this.lastBadLogMs = now;
    this.o.log.warn(msg);
  }

  /** Applies one line from the host to the counters (not yet to the tree); whether it counted. */
  private line(line: string): boolean {
    const r = parseMessage(line);
    if (!r.ok) {
      this.refuse(r.why, line);
      return false;
    }
    return this.update(r.message);
  }

  /** The start of a line not yet ended by a newline, from the last read. */
  private partial = "";
  /** Whether the rest of an overlong line is being skipped, until its newline. */
  private skipping = false;

  /**
   * Takes text as it comes from the port, in any chunks: applies each whole
   * line, keeps the start of the next, and writes the tree once for all it
   * applied (a reader sees the newest total); returns the lines applied. A
   * line over CHANNEL_MAX_LINE is refused and skipped to its newline.
   */
  receive(chunk: string): number {
    let text = this.partial + chunk;
    this.partial = "";
    let applied = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (this.skipping) this.skipping = false; // the end of an overlong line
      else if (this.line(line)) applied++;
    }
    if (text.length >= CHANNEL_MAX_LINE) {
      this.refuse("line too long", text);
      this.skipping = true; // until the next newline
    } else this.partial = text;
    if (applied > 0) {
      this.held += applied;
      if (Date.now() >= this.holdUntilMs) this.release();
    }
    return applied;
  }

  /** While lines are held: a line that comes in its own time (half its host time after the one before) ends the hold. */
  private heldLine(coverS: number): void {
    const now = Date.now();
    if (this.holdUntilMs > 0 && this.lastLineMs > 0 && now - this.lastLineMs >= 500 * coverS) this.holdUntilMs = now;
    this.lastLineMs = now;
  }

  /** Writes the tree and the state for `lines` lines applied, and tells the listeners. */
  private commit(lines = 1): void {
    if (this.o.lock && !this.o.lock.stillHeld()) {
      // Another receiver took the tree (it found our lock stale): two writers would each count from their own state.
      this.o.log.error(`channel: another receiver took ${this.o.tree}'s lock: this one stops, and writes nothing more`);
      this.stop();
      return;
    }
    this.write();
    this.applied += lines;
    for (const f of this.listeners) f();
  }

  /**
   * Applies a checked message to the counters (not yet to the tree); whether
   * it counted. A line of a known epoch adds what that epoch's counters
   * gained since its last line applied (older or repeated lines add
   * nothing); a new epoch's first line adds its value (energy since the
   * epoch began). Each epoch counts once, even while two overlap (a live
   * migration's source and destination). The guest's counter keeps its own
   * wrap point: a host whose max changes cannot send it backwards.
   */
  private update(m: ChannelMessage): boolean {
    const st = this.state;
    const before = st.epochs.find((e) => e.epoch === m.epoch);
    if (before && m.seq <= before.seq) return false; // an old or repeated line
    const added = m.zones.filter((z) => st.zones[z.zone] === undefined).length;
    if (Object.keys(st.zones).length + added > MAX_TREE_ZONES) {
      this.refuse(`more than ${MAX_TREE_ZONES} zones in all`, `${m.zones.length} zones, ${added} new`);
      return false;
    }
    const cover = coveredS(m, before);
    this.heldLine(cover);
    for (const z of m.zones) {
      const prev = st.zones[z.zone];
      const last = before?.host[z.zone];
      let gain: number;
      if (last === undefined) gain = z.energy_uj; // a new epoch (or a new zone): its first value
      else {
        // A wrap at the host's max, or a host counter that went back: a reset, not a spike.
        gain = counterDelta(last, z.energy_uj, z.max_energy_range_uj);
        if (isCounterReset(last, z.energy_uj, z.max_energy_range_uj)) this.o.log.warn(`channel: ${z.zone} went back from ${last} to ${z.energy_uj} µJ in epoch ${m.epoch}: no gain counted`);
      }
      const most = Math.round(MAX_ZONE_WATTS * 1e6 * cover);
      if (gain > most) {
        this.warnLimited(`channel: ${z.zone} gained ${gain} µJ in ${cover} s in epoch ${m.epoch}, above ${MAX_ZONE_WATTS} W: counted as ${most} µJ`);
        gain = most;
      }
      const max = prev?.max ?? z.max_energy_range_uj;
      st.zones[z.zone] = { zone: z.zone, name: z.name, max, value: wrapAdd(prev?.value ?? 0, gain, max) };
    }
    st.clockS += cover;
    this.lastCoverS += cover;
    if (m.step_s > 0) this.lastStepS = m.step_s;
    if (!before && st.epoch !== null) this.o.log.info(`channel: new epoch ${m.epoch} (the host's daemon restarted, or this VM was restored or migrated): counters continue`);
    st.epochs = [...st.epochs.filter((e) => e !== before), { epoch: m.epoch, seq: m.seq, t: m.t, host: Object.fromEntries(m.zones.map((z) => [z.zone, z.energy_uj])) }].slice(-MAX_EPOCHS);
    st.epoch = m.epoch;
    st.t = m.t;
    if (this.o.log.enabled("debug")) {
      const now = m.zones.map((z) => `${z.zone}=${st.zones[z.zone]?.value ?? 0}`).join(" ");
      this.o.log.debug(`channel: applied epoch ${m.epoch} seq ${m.seq} t ${m.t}: ${now}`);
    }
    return true;
  }

  /** The tree (its frames over the host time the lines covered), then the state, which holds the counters whole. */
  private write(): void {
    // (the tree's frames carry the host's time of their lines: what a reader of the tree compares with the host)
    this.writer.show(Object.values(this.state.zones), this.state.t, this.lastCoverS, this.lastStepS);
    const now = Object.fromEntries(Object.values(this.state.zones).map((z) => [z.zone, z.value]));
    this.state.recent = [...this.state.recent.filter((p) => p.t > this.state.t - RECENT_S && p.t < this.state.t), { t: this.state.t, zones: now }].slice(-MAX_RECENT);
    this.lastCoverS = 0;
    try {
      replaceFile(this.o.tree, CHANNEL_STATE_FILE, JSON.stringify(this.state) + "\n");
    } catch (err) {
      this.o.log.warn(`channel: cannot write ${CHANNEL_STATE_FILE} in ${this.o.tree}: ${errorMessage(err)} (kept in memory)`);
    }
  }

  /**
   * The tree as it stands may be ahead of the state file (a state write that
   * failed, a state file lost, another receiver before the lock): each
   * counter continues from whichever is ahead, so that no receiver ever
   * writes a counter below the last one written. The tree is read as
   * untrusted: a zone id and name as a host would send them, a number below
   * the zone's max; a counter further ahead than half its range is not
   * taken (a tree rewritten from elsewhere, not a continuation).
   */
  private catchUpWithTree(): void {
    let entries: string[];
    try {
      entries = readdirSync(this.o.tree).filter((e) => ZONE_ID_RE.test(e)).slice(0, MAX_TREE_ZONES);
    } catch {
      return;
    }
    for (const zone of entries) {
      const text = (f: string): string | null => {
        const r = readBounded(join(this.o.tree, zone, f), 128);
        return r.ok ? r.text.trim() : null;
      };
      const value = parseUj(text("energy_uj") ?? "");
      const known = this.state.zones[zone];
      const max = known?.max ?? parseUj(text("max_energy_range_uj") ?? "");
      const name = known?.name ?? text("name");
      if (value === null || max === null || max <= 0 || value >= max || name === null || !ZONE_NAME_RE.test(name)) continue;
      if (!known && Object.keys(this.state.zones).length >= MAX_TREE_ZONES) continue;
      const ahead = known ? counterDelta(known.value, value, max) : value;
      if (ahead <= 0 || (known && isCounterReset(known.value, value, max)) || (known && ahead > max / 2)) continue;
      this.state.zones[zone] = { zone, name, max, value };
      this.o.log.info(`channel: ${zone} in ${this.o.tree} stands at ${value} µJ, ahead of ${known ? `the state file's ${known.value}` : "a state file that does not know it"}: continuing from the tree`);
    }
  }

  /** The state file of an earlier run (the agent restarted): counters continue from it. */
  private load(): State {
    const empty: State = { epoch: null, t: 0, clockS: 0, recent: [], epochs: [], zones: {} };
    const file = join(this.o.tree, CHANNEL_STATE_FILE);
    const r = readBounded(file, STATE_BOUND);
    if (!r.ok) return empty;
    try {
      const s = parseState(JSON.parse(r.text));
      this.o.log.info(`channel: continuing from ${file} (epoch ${s.epoch})`);
      return s;
    } catch (err) {
      this.o.log.warn(`channel: ${file} unreadable (${errorMessage(err)}): counters start anew`);
      return empty;
    }
  }
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isTime = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;
const isCounters = (v: unknown): v is Record<string, number> => typeof v === "object" && v !== null && Object.values(v).every(isCount);

/** A state file's content, checked (it lives in the guest's own tmpfs, but is read as untrusted); throws if it is not one. The format before epochs were kept (epoch, t, host) is read too. */
function parseState(j: unknown): State {
  const s = j as Partial<State> & { host?: unknown };
  const zonesOk =
    typeof s.zones === "object" && s.zones !== null &&
    Object.values(s.zones).every((z: GuestZone) => isCount(z.value) && isCount(z.max) && z.max > 0 && z.value < z.max && typeof z.name === "string" && typeof z.zone === "string");
  if (!(typeof s.epoch === "string" || s.epoch === null) || !isTime(s.t) || !zonesOk || Object.keys(s.zones as object).length > MAX_TREE_ZONES) throw new Error("unexpected content");
  const epochs: EpochState[] = Array.isArray(s.epochs)
    ? s.epochs.filter((e: EpochState) => typeof e?.epoch === "string" && isCount(e.seq) && isTime(e.t) && isCounters(e.host)).slice(-MAX_EPOCHS)
    : s.epoch !== null && isCounters(s.host)
      ? [{ epoch: s.epoch, seq: 0, t: s.t, host: s.host }]
      : [];
  const clockS = isTime(s.clockS) ? s.clockS : 0;
  const recent = Array.isArray(s.recent) ? s.recent.filter((p) => isTime(p?.t) && isCounters(p?.zones)).slice(-MAX_RECENT) : [];
  return { epoch: s.epoch ?? null, t: s.t, clockS, recent, epochs, zones: s.zones as Record<string, GuestZone> };
}

/** open(2) of the port, read-only and non-blocking. */
const openPortRdonly = (path: string): number => openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);

/** A pause that keeps the process running only if `keepAlive`. */
const sleep = (ms: number, keepAlive = true): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    if (!keepAlive) t.unref();
  });
