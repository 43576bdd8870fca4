/**
 * A soak guest's serial console, read as it grows: each new line stamped
 * with the host time the soak saw it, and turned into what the checker
 * takes (applied lines, reports, the reader's samples, the guest's own
 * events, when its agent was away).
 */
import { chmodSync, closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import type { AgentDown, AppliedLine, GuestReport, ReaderSample, SoakEvent } from "./run.js";

/** A line of the guest's kernel saying it failed: a panic, a BUG, an oops. */
const GUEST_CRASH = /Kernel panic - not syncing|kernel BUG at|BUG: kernel NULL pointer|BUG: unable to handle|general protection fault|\] Oops: /;

/** A line of the console, as seen. */
export interface SeenLine {
  ms: number;
  text: string;
}

export class GuestConsole {
  readonly seen: SeenLine[] = [];
  readonly applied: AppliedLine[] = [];
  readonly reports: GuestReport[] = [];
  readonly reader: ReaderSample[] = [];
  readonly events: SoakEvent[] = [];
  private readonly down: AgentDown[] = [];
  boot = 0;
  private run = 0;
  private offset = 0;
  /** The inode of the file read so far (virtlogd, which writes the console, renames it to FILE.0 at 2 MiB and starts anew). */
  private ino: number | null = null;
  private partial = "";
  /** Since when (ms) its agent is away, or null while it is up. */
  private downSince: number | null = null;
  private floodStart: number | null = null;
  /** Reset from outside, its next boot not seen yet. */
  private resetting = false;
  /** Whether this boot's kernel failed (its first report of it counts; the lines of its trace do not). */
  private crashedThisBoot = false;
  /** A crash seen that the soak has not yet reset the guest for. */
  crashPending = false;

  constructor(
    readonly vm: string,
    private readonly file: string,
    /** The zones whose sum is the VM's energy (package + dram). */
    private readonly zones: readonly string[],
  ) {}

  /**
   * Reads what the console gained since the last call. When virtlogd has
   * rotated it (FILE renamed to FILE.0, a new FILE begun, at 2 MiB), the
   * rest of the old file is read first, then the new one from its start;
   * and the new file is made writable for both hosts' qemu users again, as
   * the soak made the first (virtlogd makes it 0600: host B's qemu, which
   * writes it without virtlogd, could not open it after a migration).
   */
  poll(now = Date.now()): void {
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch {
      return;
    }
    try {
      const ino = fstatSync(fd).ino;
      if (this.ino !== null && ino !== this.ino) {
        if (statSync(`${this.file}.0`, { throwIfNoEntry: false })?.ino === this.ino) this.readFrom(`${this.file}.0`);
        this.offset = 0;
        chmodSync(this.file, 0o666);
      }
      this.ino = ino;
      this.readRest(fd);
    } finally {
      closeSync(fd);
    }
    const lines = this.partial.split("\n");
    this.partial = lines.pop() ?? "";
    for (const l of lines) this.take(l.replace(/\r$/, ""), now);
  }

  private readFrom(file: string): void {
    const fd = openSync(file, "r");
    try {
      this.readRest(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Reads an open file from the offset to its end. */
  private readRest(fd: number): void {
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      if (n <= 0) break;
      this.offset += n;
      this.partial += buf.toString("latin1", 0, n);
    }
  }

  /** When its agent was away, the absence going on now included (to "now"). */
  agentDown(nowMs = Date.now()): AgentDown[] {
    return this.downSince === null ? [...this.down] : [...this.down, { vm: this.vm, fromMs: this.downSince, toMs: nowMs }];
  }

  /** The agent is away from `ms` (a reset of the guest, a kill seen from outside). */
  agentAway(ms: number): void {
    this.downSince ??= ms;
  }

  /**
   * The guest is reset from outside at `ms`: its agent is away until the
   * next boot's agent speaks. What the console still gives of the agent
   * before the boot line was said before the reset (the console is read a
   * little late): it does not bring the agent back.
   */
  reset(ms: number): void {
    this.agentAway(ms);
    this.resetting = true;
  }

  private up(ms: number): void {
    if (this.downSince === null || this.resetting) return;
    this.down.push({ vm: this.vm, fromMs: this.downSince, toMs: ms });
    this.downSince = null;
  }

  private take(text: string, ms: number): void {
    if (GUEST_CRASH.test(text)) {
      // The guest's kernel failed (seen under TCG seconds after a live migration, on a busy machine: a NULL
      // pointer in its timer queue, a corrupt list; scaph runs in its user space, which cannot corrupt either):
      // its agent with it, until the next boot's agent speaks. Not scaph's doing: an event of its own in the
      // table, "live" waits for the next boot, and the soak resets the guest (crashPending).
      this.seen.push({ ms, text: `kernel: ${text.trim()}` });
      if (this.crashedThisBoot) return;
      this.crashedThisBoot = true;
      this.crashPending = true;
      this.reset(ms);
      this.events.push({ type: "guest-crash", target: this.vm, startMs: ms, endMs: ms });
      return;
    }
    const i = text.indexOf("SOAK ");
    if (i < 0) return;
    const line = text.slice(i + 5);
    this.seen.push({ ms, text: line });
    if (line.startsWith("boot ")) {
      this.resetting = false;
      this.crashedThisBoot = false;
      this.boot++;
      this.agentAway(ms);
      return;
    }
    if (line.startsWith("agent-start")) {
      this.run++;
      this.agentAway(ms);
      return;
    }
    if (line.startsWith("agent-end")) return this.agentAway(ms);
    if (line.startsWith("event agent-kill")) {
      this.agentAway(ms);
      this.events.push({ type: "agent-kill", target: this.vm, startMs: ms, endMs: ms });
      return;
    }
    if (line.startsWith("event flood-start")) {
      this.agentAway(ms);
      this.floodStart = ms;
      return;
    }
    if (line.startsWith("event flood-end")) {
      this.events.push({ type: "flood", target: this.vm, startMs: this.floodStart ?? ms, endMs: ms });
      this.floodStart = null;
      return;
    }
    const r = /^reader up=([\d.]+) uj=(\d+)(?: mtime=(\S*))?$/.exec(line);
    if (r) {
      const shownS = mtimeS(r[3] ?? "");
      this.reader.push({ vm: this.vm, boot: this.boot, upS: Number(r[1]), uj: Number(r[2]), seenMs: ms, ...(shownS !== null ? { shownS } : {}) });
      return;
    }
    if (!line.startsWith("agent ")) return;
    const agent = line.slice(6);
    // any word of the new agent: it runs (its receiver waits for lines)
    this.up(ms);
    // (one console line may hold a report, from stdout, and a log line, from stderr, run together)
    if (agent.startsWith("{")) {
      const json = jsonPrefix(agent);
      try {
        const rep = JSON.parse(json) as { host: { consumption: number; timestamp: number } };
        this.reports.push({ vm: this.vm, boot: this.boot, run: this.run, tS: rep.host.timestamp, uw: rep.host.consumption });
      } catch {
        // a report cut by the console (a reset mid-line): not one
      }
    }
    const a = /applied epoch (\S+) seq (\d+) t ([\d.]+): (.*)$/.exec(agent);
    if (a) {
      const values = new Map(a[4]!.split(" ").map((kv) => kv.split("=") as [string, string]));
      const counterUj = this.zones.reduce((s, z) => s + Number(values.get(z) ?? 0), 0);
      this.applied.push({ vm: this.vm, boot: this.boot, epoch: a[1]!, seq: Number(a[2]), tS: Number(a[3]), counterUj, seenMs: ms });
    }
  }

  /** The console's lines seen within `ms` ± `aroundMs`, for a breach's report. */
  around(ms: number, aroundMs = 5000): string[] {
    return this.seen.filter((l) => Math.abs(l.ms - ms) <= aroundMs).map((l) => `${new Date(l.ms).toISOString()} ${this.vm}: ${l.text}`);
  }
}

/** The JSON object at the start of `text` (up to its closing brace; a report holds no brace in a string). */
function jsonPrefix(text: string): string {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(0, i + 1);
  }
  return text;
}

/** busybox stat's %y (spaces made underscores), "2026-12-07_00:20:30.123456789_+0000", as Unix seconds; null if it is not one. */
function mtimeS(text: string): number | null {
  const m = /^(\d{4}-\d\d-\d\d)_(\d\d:\d\d:\d\d)(\.\d+)?_\+0000$/.exec(text);
  if (!m) return null;
  const s = Date.parse(`${m[1]}T${m[2]}Z`) / 1000;
  return Number.isFinite(s) ? s + Number(`0${m[3] ?? ""}`) : null;
}
