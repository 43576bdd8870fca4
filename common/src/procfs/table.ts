import { readdirSync, readlinkSync } from "node:fs";
import { errnoCode, ProcfsError } from "../errors.js";
import type { Logger } from "../log.js";
import { LogEvery, silentLogger } from "../log.js";
import type { Ticks } from "../units.js";
import { clockTicksPerSecond, pageSizeBytes } from "./clock.js";
import { readInto, readText, readView, sharedBuffer } from "./files.js";
import { StatFiles } from "./stat-files.js";
import { isKernelThread, parsePidStatBytes } from "./pid-stat.js";
import type { ProcStat } from "./pid-stat.js";
import { busyTicks, parseProcStat } from "./stat.js";
import { parseHostStats } from "./host.js";
import type { HostStats } from "./host.js";

/** Processes read between two turns of the event loop (sampleYielding): about a millisecond of reads. */
export const SAMPLE_CHUNK = 256;
/** Longest command line read (the kernel allows megabytes; labels and VM identity need the start). */
export const CMDLINE_BOUND = 128 * 1024;
/** The start of a command line compared when a process's comm changes, to tell a rename from an exec. */
export const CMDLINE_HEAD = 4096;
const EMPTY = Buffer.alloc(0);

/**
 * One user-space process. The table keeps one of these per (pid, start time)
 * for the process's whole life, updating its CPU time each step: what only
 * an exec changes (exe, cmdline, comm) is read once, and again when comm
 * changes (an exec), as a new object with `execs` one higher.
 */
export interface ProcessInfo {
  /** `pid:startTicks`: stable identity, safe against pid reuse. */
  readonly key: string;
  readonly pid: number;
  /** Its name (/proc/PID/comm); a process that renames itself (prctl, no exec) gets the new one in place. */
  comm: string;
  readonly exe: string;
  readonly cmdline: readonly string[];
  readonly startTicks: Ticks;
  /**
   * How many times the process was seen to exec (its comm changed, so its
   * exe and cmdline were read again) since first seen. A cache of what a
   * process is (its exe, cmdline, owner, cgroup, VM identity) is keyed by
   * `key` AND `execs`: libvirt's child is `libvirtd` for up to ~140 ms
   * before it execs qemu, with the same pid and start time.
   */
  readonly execs: number;
  /** utime + stime at the last reading. */
  cpuTicks: Ticks;
  /** utime + stime at the reading before, or null if the process was first seen at the last reading. */
  prevCpuTicks: Ticks | null;
  rssPages: number;
  vsizeBytes: number;
}

/** A reading of /proc: busy time and every user-space process. */
export interface ProcSample {
  busyTicks: Ticks;
  uptimeS: number;
  /** Processes by key. The objects are the table's own, updated in place by the next sample. */
  processes: ReadonlyMap<string, ProcessInfo>;
  /** Load and memory of the host, when the table was asked for them. */
  hostStats: HostStats | null;
  /** /proc/PID/stat files held open by the table (0 when it opens each at each read). */
  procFilesHeld: number;
}

export interface ProcessTableOptions {
  procRoot: string;
  /** Ticks per second (USER_HZ); read from the system by default. */
  clockTicks?: number;
  /** Bytes per page (RSS is counted in pages); read from the system by default. */
  pageSize?: number;
  /** Also read /proc/loadavg and /proc/meminfo each step (for Prometheus). */
  hostStats?: boolean;
  /**
   * Keep each /proc/PID/stat open and pread it (one system call a process
   * a step instead of open, read, close). By default: when `procRoot` is a
   * procfs, whose files are generated at each read. A copy of /proc on
   * another filesystem (a fixture tree) is read anew each step: a file there
   * may be replaced, and an open one would keep its old content.
   */
  keepOpen?: boolean;
  /** Most files held open (by default the descriptor limit less StatFiles' reserve). */
  statFileBudget?: number;
  log?: Logger;
}

interface Entry {
  info: ProcessInfo;
  /** Not a consumer: a kernel thread, a zombie, an exiting process. */
  kernel: boolean;
  /** A kernel thread (its comm changes as it works, and it never execs). */
  kthread: boolean;
  /** comm's bytes as last read: a change means an exec, or a rename (prctl). */
  comm: Buffer;
  /** The first CMDLINE_HEAD bytes of its command line when identified: the same exe and head after comm changed is a rename. */
  cmdlineHead: Buffer;
  /** Sample number at which it was last seen. */
  seen: number;
  /** `<procRoot>/<pid>/stat`, built once. */
  statPath: string;
  /** Its /proc/PID/stat held open (StatFiles), or -1. */
  fd: number;
}

/**
 * Reads /proc into ProcSamples, synchronously (procfs is generated in
 * memory: see files.ts). Each step it lists the pids and reads each
 * /proc/PID/stat; a process first seen also has its exe and cmdline read.
 * Kernel threads and zombies are left out. Only ENOENT/ESRCH mean that a
 * process is gone; any other failure (EMFILE, EACCES, EIO) is counted and
 * logged, and the process is kept with its last reading: never silently
 * dropped from attribution.
 */
export class ProcessTable {
  readonly procRoot: string;
  readonly clockTicks: number;
  readonly pageSize: number;
  private readonly byPid = new Map<number, Entry>();
  private readonly live = new Map<string, ProcessInfo>();
  private samples = 0;
  private readonly log: Logger;
  private readonly withHostStats: boolean;
  /** Read failures other than "gone", by errno, since the last report. */
  private readonly failures = new Map<string, number>();
  /** Read failures are said at most once a minute. */
  private readonly failureWord = new LogEvery();
  /** Parsed /proc/PID/stat of a known process, reused from one to the next. */
  private readonly scratch: ProcStat = {
    pid: 0,
    comm: "",
    commStart: 0,
    commEnd: 0,
    state: "",
    ppid: 0,
    flags: 0,
    cpuTicks: 0,
    startTicks: 0,
    rssPages: 0,
    vsizeBytes: 0,
  };
  /** The /proc/PID/stat files held open, or null when each is opened at each read. */
  readonly statFiles: StatFiles | null;

  constructor(options: ProcessTableOptions) {
    this.procRoot = options.procRoot;
    this.clockTicks = options.clockTicks ?? clockTicksPerSecond();
    this.pageSize = options.pageSize ?? pageSizeBytes();
    this.withHostStats = options.hostStats ?? false;
    this.log = options.log ?? silentLogger;
    this.statFiles = (options.keepOpen ?? StatFiles.isProcfs(this.procRoot)) ? new StatFiles(options.statFileBudget) : null;
  }

  /** Closes the files held open. */
  close(): void {
    for (const e of this.byPid.values()) this.dropFd(e);
  }

  private dropFd(e: Entry): void {
    if (e.fd >= 0) this.statFiles?.close(e.fd);
    e.fd = -1;
  }

  /** Reads /proc at once: one uninterrupted run of the event loop. */
  sample(): ProcSample {
    const pass = this.pass();
    for (;;) {
      const r = pass.next();
      if (r.done) return r.value;
    }
  }

  /**
   * Reads /proc, giving the event loop a turn after every SAMPLE_CHUNK
   * processes: a scrape (or a channel line) that comes in meanwhile waits
   * for one chunk, not for the whole reading of a host of 10,000 processes.
   * What a Snapshot of the step before holds was copied out of the table
   * when it was made, so reading it meanwhile is safe.
   */
  async sampleYielding(): Promise<ProcSample> {
    const pass = this.pass();
    for (;;) {
      const r = pass.next();
      if (r.done) return r.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private *pass(): Generator<void, ProcSample> {
    const root = this.procRoot;
    // the aggregate "cpu" line comes first; with the host's stats, the counters after the (long) "intr" line too
    const statText = readProcFile(`${root}/stat`, this.withHostStats ? 256 * 1024 : 8192);
    const cpu = parseProcStat(statText, `${root}/stat`);
    const uptimeS = Number(safeText(`${root}/uptime`).trim().split(/\s+/)[0]) || 0;
    const stamp = ++this.samples;
    let names: string[];
    try {
      names = readdirSync(root);
    } catch (err) {
      throw new ProcfsError(root, "unlistable", err);
    }
    let read = 0;
    for (const name of names) {
      const c = name.charCodeAt(0);
      if (c < 0x30 || c > 0x39) continue;
      const pid = Number(name);
      if (!Number.isInteger(pid)) continue;
      this.readPid(pid, stamp);
      if (++read % SAMPLE_CHUNK === 0) yield;
    }
    for (const [pid, e] of this.byPid) {
      if (e.seen === stamp) continue;
      this.dropFd(e);
      this.byPid.delete(pid);
      this.live.delete(e.info.key);
    }
    this.reportFailures();
    return {
      busyTicks: busyTicks(cpu),
      uptimeS,
      processes: this.live,
      hostStats: this.withHostStats ? parseHostStats(safeText(`${root}/loadavg`), safeText(`${root}/meminfo`), statText) : null,
      procFilesHeld: this.statFiles?.held ?? 0,
    };
  }

  /**
   * Reads a pid's stat line into the shared buffer; returns its length and
   * the file it left open (or -1). A held file whose process is gone answers
   * ESRCH: then the pid (reused, or gone too) is opened anew.
   */
  private readStat(pid: number, known: Entry | undefined, statPath: string): { length: number; fd: number } {
    const files = this.statFiles;
    const buf = sharedBuffer();
    if (files === null) return { length: readInto(statPath, 4096), fd: -1 };
    if (known !== undefined && known.fd >= 0) {
      const fd = known.fd;
      try {
        return { length: files.pread(fd, buf, 4096), fd };
      } catch (err) {
        const code = errnoCode(err);
        if (code !== "ESRCH" && code !== "ENOENT") throw err;
        this.dropFd(known);
      }
    }
    return files.openAndRead(statPath, buf, 4096);
  }

  private readPid(pid: number, stamp: number): void {
    const known = this.byPid.get(pid);
    const statPath = known?.statPath ?? `${this.procRoot}/${pid}/stat`;
    const buf = sharedBuffer();
    let st;
    let length;
    let fd;
    try {
      ({ length, fd } = this.readStat(pid, known, statPath));
      st = parsePidStatBytes(buf, known === undefined, length, known === undefined ? undefined : this.scratch);
    } catch (err) {
      const code = errnoCode(err) ?? "error";
      if (code === "ENOENT" || code === "ESRCH") return; // gone between the listing and the read
      this.failures.set(code, (this.failures.get(code) ?? 0) + 1);
      if (known) known.seen = stamp; // kept, with its last reading: its CPU over this step counts as 0
      return;
    }
    if (st === null) {
      if (fd >= 0 && fd !== known?.fd) this.statFiles?.close(fd);
      return;
    }
    if (st === null) return;
    if (known !== undefined && known.info.startTicks === st.startTicks) {
      known.seen = stamp;
      known.fd = fd;
      if (!known.kthread && !sameBytes(known.comm, buf, st.commStart, st.commEnd)) {
        const commBytes = Buffer.from(buf.subarray(st.commStart, st.commEnd));
        const full = parsePidStatBytes(buf, true, length) ?? st;
        // (reads below reuse the shared buffer: the stat line is parsed and its comm copied first)
        if (known.kernel || !this.renamedOnly(pid, known)) {
          this.identify(pid, stamp, statPath, full, known, fd, commBytes);
          return;
        }
        known.comm = commBytes;
        known.info.comm = full.comm;
        st = full;
      }
      if (known.kernel) return;
      const info = known.info;
      info.prevCpuTicks = info.cpuTicks;
      info.cpuTicks = st.cpuTicks;
      info.rssPages = st.rssPages;
      info.vsizeBytes = st.vsizeBytes;
      return;
    }
    // A new process (or a new one behind a reused pid: the file read is the new process's).
    if (known) {
      this.live.delete(known.info.key);
      if (known.fd !== fd) this.dropFd(known);
    }
    this.identify(pid, stamp, statPath, known ? (parsePidStatBytes(buf, true, length) ?? st) : st, null, fd);
  }

  /**
   * Reads what a process is (exe, cmdline) and files it: a process first
   * seen, or one that exec'd (`before`: its entry until now), which keeps its
   * key and its CPU time but is a new object with `execs` one higher.
   */
  private identify(pid: number, stamp: number, statPath: string, stat: ProcStat, before: Entry | null, fd: number, comm?: Buffer): void {
    const commBytes = comm ?? Buffer.from(sharedBuffer().subarray(stat.commStart, stat.commEnd));
    const key = `${pid}:${stat.startTicks}`;
    const kthread = isKernelThread(stat);
    const head = { bytes: EMPTY };
    const prev = before?.kernel === false ? before.info : null;
    const info: ProcessInfo = {
      key,
      pid,
      comm: stat.comm,
      exe: kthread ? "" : this.readExe(pid),
      cmdline: kthread ? [] : this.readCmdline(pid, head),
      startTicks: stat.startTicks,
      execs: before ? before.info.execs + 1 : 0,
      cpuTicks: stat.cpuTicks,
      // Across an exec the CPU time goes on: the step's delta is what it used, before and after.
      prevCpuTicks: prev ? prev.cpuTicks : null,
      rssPages: stat.rssPages,
      vsizeBytes: stat.vsizeBytes,
    };
    // A zombie or an exiting process has no cmdline and no exe: not a consumer.
    const skip = kthread || stat.state === "Z" || (info.cmdline.length === 0 && info.exe === "");
    this.byPid.set(pid, { info, kernel: skip, kthread, comm: commBytes, cmdlineHead: head.bytes, seen: stamp, statPath, fd });
    if (skip) this.live.delete(key);
    else this.live.set(key, info);
  }

  private readExe(pid: number): string {
    try {
      return readlinkSync(`${this.procRoot}/${pid}/exe`).replace(/ \(deleted\)$/, "");
    } catch {
      return ""; // gone, or another user's process when not root
    }
  }

  /**
   * Whether a process whose comm changed only renamed itself (prctl, a
   * write to /proc/PID/comm): the same exe, and the same first
   * CMDLINE_HEAD bytes of command line. Then its command line (up to
   * CMDLINE_BOUND) is not read again, nor is anything keyed by its exec.
   */
  private renamedOnly(pid: number, e: Entry): boolean {
    if (this.readExe(pid) !== e.info.exe) return false;
    try {
      return readView(`${this.procRoot}/${pid}/cmdline`, CMDLINE_HEAD).equals(e.cmdlineHead);
    } catch {
      return false;
    }
  }

  /** Reads a command line (up to CMDLINE_BOUND); `head.bytes` gets a copy of its first CMDLINE_HEAD bytes. */
  private readCmdline(pid: number, head: { bytes: Buffer }): string[] {
    try {
      const view = readView(`${this.procRoot}/${pid}/cmdline`, CMDLINE_BOUND);
      head.bytes = Buffer.from(view.subarray(0, CMDLINE_HEAD));
      const parts = view.toString("utf8").split("\0");
      if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
      return parts;
    } catch {
      return [];
    }
  }

  /** Logs read failures that are not "gone", with counts, at most once a minute. */
  private reportFailures(): void {
    if (this.failures.size === 0 || !this.failureWord.due()) return;
    const what = [...this.failures].map(([code, n]) => `${code} ×${n}`).join(", ");
    this.failures.clear();
    this.log.warn(`procfs: reads of ${this.procRoot}/PID/stat failed (${what}); those processes keep their last reading`);
  }
}

/** Whether `a` holds the bytes b[start, end). */
function sameBytes(a: Buffer, b: Buffer, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[start + i]) return false;
  return true;
}

/** /proc/stat and the like: a clear error naming --procfs-path if unreadable. */
function readProcFile(path: string, maxBytes: number): string {
  try {
    return readText(path, maxBytes, true);
  } catch (err) {
    throw new ProcfsError(path, "unreadable", err);
  }
}

function safeText(path: string): string {
  try {
    return readText(path, 16 * 1024, true);
  } catch {
    return "";
  }
}
