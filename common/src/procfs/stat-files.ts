import { closeSync, constants, openSync, readFileSync, readSync, statfsSync } from "node:fs";

/** statfs(2) f_type of procfs. */
const PROC_SUPER_MAGIC = 0x9fa0;
/** Descriptors left for everything else the process opens (sockets, trees, libvirt, the log). */
export const FD_RESERVE = 256;
/** Never more held than this, whatever the limit. */
export const MAX_HELD_FDS = 1 << 20;

/**
 * The /proc/PID/stat files of the process table, held open and read with
 * pread(2) at offset 0: procfs generates the line at each read, so one
 * system call a process a step replaces open, read and close. The kernel
 * ties such a file to its process: once that process is gone a read answers
 * ESRCH, even if its pid was given to a new one (which the table then opens
 * anew). Held files stop at the descriptor limit (RLIMIT_NOFILE, raised by
 * the units' LimitNOFILE=) less FD_RESERVE; past it, files are opened, read
 * and closed as before.
 */
export class StatFiles {
  private heldCount = 0;
  readonly budget: number;

  constructor(budget = StatFiles.budgetFromLimit(ownLimits())) {
    this.budget = budget;
  }

  /** Whether `root` is a procfs (not a copy of one on tmpfs or a disk). */
  static isProcfs(root: string): boolean {
    try {
      return statfsSync(root).type === PROC_SUPER_MAGIC;
    } catch {
      return false;
    }
  }

  /** The files that may be held under the soft "Max open files" of /proc/self/limits. */
  static budgetFromLimit(limits: string): number {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    const soft = m === null ? 1024 : m[1] === "unlimited" ? MAX_HELD_FDS : Number(m[1]);
    return Math.max(0, Math.min(MAX_HELD_FDS, soft - FD_RESERVE));
  }

  /** Files held open now. */
  get held(): number {
    return this.heldCount;
  }

  /** Reads a held file from its start into `buf`; returns the byte count. Throws ESRCH once its process is gone. */
  pread(fd: number, buf: Buffer, max: number): number {
    return readSync(fd, buf, 0, max, 0);
  }

  /** Opens and reads `path`; the file stays open (`fd`) while the budget allows, else it is closed (`fd` -1). */
  openAndRead(path: string, buf: Buffer, max: number): { length: number; fd: number } {
    const fd = openSync(path, constants.O_RDONLY);
    let length: number;
    try {
      length = readSync(fd, buf, 0, max, null);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (this.heldCount >= this.budget) {
      closeSync(fd);
      return { length, fd: -1 };
    }
    this.heldCount++;
    return { length, fd };
  }

  /** Closes a held file. */
  close(fd: number): void {
    this.heldCount--;
    try {
      closeSync(fd);
    } catch {
      // already closed: nothing held
    }
  }
}

function ownLimits(): string {
  try {
    return readFileSync("/proc/self/limits", "latin1");
  } catch {
    return ""; // then the usual soft limit, 1024
  }
}
