import { closeSync, constants, mkdirSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { CHANNEL_MAX_LINE, errnoCode, errorMessage, excerpt, parseMessage, readBounded, replaceFile } from "@scaph/common";
import type { ChannelMessage, Logger } from "@scaph/common";

/** The receiver's own memory, beside the tree it keeps: where each counter stands, and the host's last line. */
export const CHANNEL_STATE_FILE = ".scaph-channel.json";

/** One zone of the guest's tree. */
export interface GuestZone {
  zone: string;
  name: string;
  /** The guest's counter (what its tree's energy_uj holds), wrapping at max. */
  value: number;
  max: number;
}

interface State {
  epoch: string | null;
  /** The host's time of the last line applied (Unix s). */
  t: number;
  /** The host's counters in that line, by zone. */
  host: Record<string, number>;
  zones: Record<string, GuestZone>;
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

  constructor(private readonly o: ReceiverOptions) {
    mkdirSync(o.tree, { recursive: true });
    this.state = this.load();
  }

  /** The tree's zones and the host's time of the last line applied, or null before any. */
  get latest(): { t: number; zones: GuestZone[] } | null {
    if (this.state.epoch === null) return null;
    return { t: this.state.t, zones: Object.values(this.state.zones) };
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
    const retry = this.o.retryMs ?? 1000;
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

  stop(): void {
    this.stopped = true;
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
      fd = openSync(port, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      this.o.log.warn(`channel: ${port}: ${errorMessage(err)}`);
      return;
    }
    const buf = Buffer.alloc(CHANNEL_MAX_LINE);
    let partial = "";
    let skipping = false;
    try {
      while (!this.stopped) {
        let n: number;
        try {
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (err) {
          if (errnoCode(err) === "EAGAIN") {
            await sleep(this.o.pollMs ?? 100, this.o.keepAlive);
            continue;
          }
          this.o.log.warn(`channel: ${port}: ${errorMessage(err)}`);
          return;
        }
        if (n === 0) return; // the host end is not connected
        let text = partial + buf.toString("utf8", 0, n);
        partial = "";
        for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
          const line = text.slice(0, nl);
          text = text.slice(nl + 1);
          if (skipping) skipping = false; // the end of an overlong line
          else this.line(line);
        }
        if (text.length >= CHANNEL_MAX_LINE) {
          this.refuse("line too long", text);
          skipping = true; // until the next newline
        } else partial = text;
      }
    } finally {
      closeSync(fd);
    }
  }

  private refuse(why: string, line: string): void {
    this.bad++;
    const now = Date.now();
    if (now - this.lastBadLogMs < 60_000) return;
    this.lastBadLogMs = now;
    this.o.log.warn(`channel: ${this.bad} bad line(s) skipped, the last: ${why} (${excerpt(line)})`);
  }

  /** Applies one line from the host (exported for tests through apply()). */
  private line(line: string): void {
    const r = parseMessage(line);
    if (!r.ok) return this.refuse(r.why, line);
    this.apply(r.message);
  }

  /** Applies a checked message to the counters, then writes the tree and the state. */
  apply(m: ChannelMessage): void {
    const st = this.state;
    const sameEpoch = m.epoch === st.epoch;
    if (sameEpoch && m.t <= st.t) return; // an old or repeated line
    for (const z of m.zones) {
      const prev = st.zones[z.zone];
      const last = st.host[z.zone];
      let gain: number;
      if (!sameEpoch || last === undefined) gain = z.energy_uj; // a new epoch (or a new zone): its first value
      else if (z.energy_uj >= last) gain = z.energy_uj - last;
      else {
        const wrapped = z.energy_uj - last + z.max_energy_range_uj;
        gain = wrapped <= z.max_energy_range_uj / 2 ? wrapped : 0; // a host counter that went back: a reset, not a spike
        if (gain === 0) this.o.log.warn(`channel: ${z.zone} went back from ${last} to ${z.energy_uj} µJ in epoch ${m.epoch}: no gain counted`);
      }
      const max = z.max_energy_range_uj;
      st.zones[z.zone] = { zone: z.zone, name: z.name, max, value: ((prev?.value ?? 0) + gain) % max };
      st.host[z.zone] = z.energy_uj;
    }
    if (!sameEpoch) {
      if (st.epoch !== null) this.o.log.info(`channel: new epoch ${m.epoch} (the host's daemon restarted, or this VM was restored or migrated): counters continue`);
      for (const k of Object.keys(st.host)) if (!m.zones.some((z) => z.zone === k)) delete st.host[k];
    }
    st.epoch = m.epoch;
    st.t = m.t;
    this.o.log.debug(`channel: applied epoch ${m.epoch} seq ${m.seq} t ${m.t}`);
    this.write();
    this.applied++;
    for (const f of this.listeners) f();
  }

  /** The tree (sub-zones first, the package last: a reader that sees the package sees the whole tree), then the state. */
  private write(): void {
    const zones = Object.values(this.state.zones).sort((a, b) => b.zone.length - a.zone.length || b.zone.localeCompare(a.zone));
    try {
      for (const z of zones) {
        const dir = join(this.o.tree, z.zone);
        mkdirSync(dir, { recursive: true });
        replaceFile(dir, "name", `${z.name}\n`);
        replaceFile(dir, "max_energy_range_uj", `${z.max}\n`);
        replaceFile(dir, "energy_uj", `${z.value}\n`);
      }
      replaceFile(this.o.tree, CHANNEL_STATE_FILE, JSON.stringify(this.state) + "\n");
    } catch (err) {
      this.o.log.warn(`channel: cannot write the tree in ${this.o.tree}: ${errorMessage(err)} (kept in memory)`);
    }
  }

  /** The state file of an earlier run (the agent restarted): counters continue from it. */
  private load(): State {
    const empty: State = { epoch: null, t: 0, host: {}, zones: {} };
    const r = readBounded(join(this.o.tree, CHANNEL_STATE_FILE), 64 * 1024);
    if (!r.ok) return empty;
    try {
      const s = JSON.parse(r.text) as State;
      const ok =
        (typeof s.epoch === "string" || s.epoch === null) &&
        typeof s.t === "number" &&
        Object.values(s.host ?? {}).every((v) => Number.isSafeInteger(v) && v >= 0) &&
        Object.values(s.zones ?? {}).every((z) => Number.isSafeInteger(z.value) && Number.isSafeInteger(z.max) && z.max > 0 && typeof z.name === "string");
      if (!ok) throw new Error("unexpected content");
      this.o.log.info(`channel: continuing from ${join(this.o.tree, CHANNEL_STATE_FILE)} (epoch ${s.epoch})`);
      return { epoch: s.epoch, t: s.t, host: s.host ?? {}, zones: s.zones ?? {} };
    } catch (err) {
      this.o.log.warn(`channel: ${join(this.o.tree, CHANNEL_STATE_FILE)} unreadable (${errorMessage(err)}): counters start anew`);
      return empty;
    }
  }
}

/** A pause that keeps the process running only if `keepAlive`. */
const sleep = (ms: number, keepAlive = true): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    if (!keepAlive) t.unref();
  });
