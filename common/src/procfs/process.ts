import { readFile, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { Ticks } from "../units.js";

/** Fields of /proc/PID/stat that scaph uses. */
export interface ProcStat {
  pid: number;
  comm: string;
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

const PF_KTHREAD = 0x00200000;

/**
 * Parses /proc/PID/stat. comm may hold spaces and parentheses, so the fields
 * are read after the LAST ')'. Returns null if the line is malformed.
 */
export function parsePidStat(text: string): ProcStat | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const num = (field: number): number => Number(rest[field - 3]);
  const utime = num(14);
  const stime = num(15);
  const start = num(22);
  if (!Number.isInteger(pid) || !Number.isFinite(utime) || !Number.isFinite(stime) || !Number.isFinite(start)) return null;
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? "?",
    ppid: num(4),
    flags: num(9),
    cpuTicks: utime + stime,
    startTicks: start,
    vsizeBytes: num(23) || 0,
    rssPages: num(24) || 0,
  };
}

export function isKernelThread(s: ProcStat): boolean {
  return (s.flags & PF_KTHREAD) !== 0 || s.pid === 2 || s.ppid === 2;
}

/** Numeric entries of the procfs root. */
export async function listPids(procRoot: string): Promise<number[]> {
  const entries = await readdir(procRoot);
  const pids: number[] = [];
  for (const e of entries) if (/^\d+$/.test(e)) pids.push(Number(e));
  return pids.sort((a, b) => a - b);
}

/** /proc/PID/stat, or null if the process vanished or is unreadable. */
export async function readPidStat(procRoot: string, pid: number): Promise<ProcStat | null> {
  try {
    return parsePidStat(await readFile(join(procRoot, String(pid), "stat"), "utf8"));
  } catch {
    return null;
  }
}

/** argv of a process (NUL-separated /proc/PID/cmdline); [] if gone or unreadable. */
export async function readCmdline(procRoot: string, pid: number): Promise<string[]> {
  try {
    const raw = await readFile(join(procRoot, String(pid), "cmdline"), "utf8");
    const parts = raw.split("\0");
    if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
    return parts;
  } catch {
    return [];
  }
}

/** Target of /proc/PID/exe; "" if gone or not permitted (other users' processes). */
export async function readExe(procRoot: string, pid: number): Promise<string> {
  try {
    return (await readlink(join(procRoot, String(pid), "exe"))).replace(/ \(deleted\)$/, "");
  } catch {
    return "";
  }
}
