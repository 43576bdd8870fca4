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
 */
export function readView(path: string, max = 16 * 1024): Buffer {
  ensure(max);
  const fd = openSync(path, constants.O_RDONLY);
  try {
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, max - n, n);
      if (r === 0) break;
      n += r;
      if (n >= max) break;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** readView as a latin1 string (kernel files are ASCII). */
export function readText(path: string, max = 16 * 1024): string {
  return readView(path, max).toString("latin1");
}
