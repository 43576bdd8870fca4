import type { Ticks } from "../units.js";

/** Fields of /proc/PID/stat that scaph uses. */
export interface ProcStat {
  pid: number;
  comm: string;
  /** Where comm's bytes are in the buffer parsed: [commStart, commEnd). Compared each step, as a new comm means an exec. */
  commStart: number;
  commEnd: number;
  state: string;
  ppid: number;
  flags: number;
  /** utime + stime of all threads, in clock ticks. */
  cpuTicks: Ticks;
  /** Start time after boot, in clock ticks: with pid, identifies a process. */
  startTicks: Ticks;
  /** Resident set size in pages. */
  rssPages: number;
  vsizeBytes: number;
}

export const PF_KTHREAD = 0x00200000;

const SPACE = 0x20;
/** One-letter states by byte, made once (no string per process per step). */
const STATES: string[] = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c));
const RPAREN = 0x29;
const LPAREN = 0x28;

/**
 * Parses /proc/PID/stat from its bytes, without splitting it into strings:
 * comm may hold spaces and parentheses, so fields are counted after the LAST
 * ')'. Returns null if the line is malformed. `withComm` false skips
 * decoding comm (it is only needed the first time a process is seen).
 */
export function parsePidStatBytes(b: Uint8Array, withComm = true, length = b.length, into?: ProcStat): ProcStat | null {
  let close = -1;
  for (let i = length - 1; i >= 0; i--) {
    if (b[i] === RPAREN) {
      close = i;
      break;
    }
  }
  let open = -1;
  for (let i = 0; i < length; i++) {
    if (b[i] === LPAREN) {
      open = i;
      break;
    }
  }
  if (open < 0 || close < open) return null;
  let pid = 0;
  let digits = 0;
  for (let i = 0; i < open; i++) {
    const c = b[i] as number;
    if (c >= 0x30 && c <= 0x39) {
      pid = pid * 10 + (c - 0x30);
      digits++;
    } else if (c !== SPACE) return null;
  }
  if (digits === 0) return null;
  // Fields from 3 (state) on; we need 3, 4, 9, 14, 15, 22, 23, 24.
  let field = 3;
  let i = close + 2;
  let state = "";
  let ppid = 0;
  let flags = 0;
  let utime = -1;
  let stime = -1;
  let start = -1;
  let vsize = 0;
  let rss = 0;
  while (i < length && field <= 24) {
    let j = i;
    let n = 0;
    let numeric = true;
    while (j < length && b[j] !== SPACE && b[j] !== 0x0a) {
      const c = b[j] as number;
      if (c >= 0x30 && c <= 0x39) n = n * 10 + (c - 0x30);
      else numeric = false;
      j++;
    }
    switch (field) {
      case 3:
        state = STATES[b[i] ?? 0x3f] ?? "?";
        break;
      case 4:
        ppid = numeric ? n : 0;
        break;
      case 9:
        flags = numeric ? n : 0;
        break;
      case 14:
        utime = numeric ? n : -1;
        break;
      case 15:
        stime = numeric ? n : -1;
        break;
      case 22:
        start = numeric ? n : -1;
        break;
      case 23:
        vsize = numeric ? n : 0;
        break;
      case 24:
        rss = numeric ? n : 0;
        break;
    }
    field++;
    i = j + 1;
  }
  if (utime < 0 || stime < 0 || start < 0) return null;
  // A known process's hot path writes into `into` (no object made, no comm decoded).
  const out = into ?? ({} as ProcStat);
  out.pid = pid;
  out.comm = withComm ? Buffer.from(b.buffer, b.byteOffset + open + 1, close - open - 1).toString("utf8") : "";
  out.commStart = open + 1;
  out.commEnd = close;
  out.state = state;
  out.ppid = ppid;
  out.flags = flags;
  out.cpuTicks = utime + stime;
  out.startTicks = start;
  out.vsizeBytes = vsize;
  out.rssPages = rss;
  return out;
}

export function isKernelThread(s: ProcStat): boolean {
  return (s.flags & PF_KTHREAD) !== 0 || s.pid === 2 || s.ppid === 2;
}
