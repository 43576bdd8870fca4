import { closeSync, constants, openSync, readSync } from "node:fs";

/**
 * Synchronous reads of small kernel files (procfs, sysfs, cgroupfs) into one
 * reused buffer: these files are generated in memory and never wait on a
 * disk, so a libuv-pool round trip per file (fs.promises: open, fstat, read,
 * close on the pool) costs far more than the read itself. The returned view
 * is valid until the next read.
 */
let buf = Buffer.allocUnsafe(16 * 1024);

/** Grows the shared buffer to at least `bytes`. */
function ensure(bytes: number): void {
  if (buf.length < bytes) buf = Buffer.allocUnsafe(bytes);
}

/**
 * Reads up to `max` bytes of `path` from offset 0. Throws the system error
 * (ENOENT for a process that is gone). The view is valid until the next read.
 *
 * `whole`: the file is generated whole by one read (/proc/PID/stat, a
 * sysfs attribute, cpu.stat, a small tmpfs file): a read that returns less
 * than asked is the end, so no second read just to see 0 bytes, which would
 * double the syscalls of a step. Otherwise (cmdline, which may span pages)
 * reads go on until one returns 0.
 */
export function readView(path: string, max = 16 * 1024, whole = false): Buffer {
  ensure(max);
  const fd = openSync(path, constants.O_RDONLY);
  try {
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, max - n, null); // read(2) from the fresh fd's offset: cheaper in Node than a pread
      n += r;
      if (r === 0 || n >= max || (whole && n < max)) break;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** readView as a latin1 string (kernel files are ASCII). */
export function readText(path: string, max = 16 * 1024, whole = false): string {
  return readView(path, max, whole).toString("latin1");
}

/** The shared buffer of readInto: its first `n` bytes are the file read last. */
export function sharedBuffer(): Buffer {
  return buf;
}

/**
 * The cheapest read: one open, one read, one close of a file generated whole
 * (/proc/PID/stat), into the shared buffer; returns the byte count. Throws
 * the system error.
 */
export function readInto(path: string, max: number): number {
  ensure(max);
  const fd = openSync(path, constants.O_RDONLY);
  try {
    return readSync(fd, buf, 0, max, null);
  } finally {
    closeSync(fd);
  }
}
