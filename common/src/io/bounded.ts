import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { errnoCode } from "../errors.js";

const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = constants;

/** Longest value file read (energy_uj, max_energy_range_uj): a decimal µJ count is at most 20 digits. */
export const VALUE_BOUND = 64;
/** Longest `name` file read. */
export const NAME_BOUND = 256;

/** Why a file could not be read as a small regular file. */
export type ReadFailure =
  | "missing" // ENOENT, ENOTDIR
  | "symlink" // the last component is a symlink (O_NOFOLLOW)
  | "not-regular" // a directory, FIFO, socket or device
  | "too-long" // more bytes than the bound
  | "permission" // EACCES, EPERM
  | "error"; // anything else (EIO, EMFILE...)

/** A read: the text, and the file's modification time (ms since the epoch, with its fraction). */
export type BoundedRead = { ok: true; text: string; mtimeMs: number } | { ok: false; why: ReadFailure; code?: string };

/** One buffer for every read: reads are synchronous, so it is never shared by two at once. */
let buf = Buffer.allocUnsafe(4096);

/**
 * Reads a small file that someone else may control (a VM tree shared with a
 * guest, a tree written by another tool): opened with O_NONBLOCK|O_NOFOLLOW
 * so that a FIFO or a symlink never blocks or redirects the read, checked to
 * be a regular file with fstat, and read up to `bound` bytes (one more byte
 * than that is `too-long`). Synchronous: these files are in memory (sysfs,
 * procfs, tmpfs) and never wait on a disk.
 */
export function readBounded(path: string, bound: number): BoundedRead {
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
  } catch (err) {
    return failure(err);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, why: "not-regular" };
    if (buf.length < bound + 1) buf = Buffer.allocUnsafe(bound + 1);
    let n = 0;
    // A regular file reads short only at its end: one read, unless it filled what was asked.
    for (;;) {
      const want = bound + 1 - n;
      const r = readSync(fd, buf, n, want, null);
      n += r;
      if (n > bound) return { ok: false, why: "too-long" };
      if (r < want) break;
    }
    return { ok: true, text: buf.toString("latin1", 0, n), mtimeMs: st.mtimeMs };
  } catch (err) {
    return failure(err);
  } finally {
    closeSync(fd);
  }
}

function failure(err: unknown): BoundedRead {
  const code = errnoCode(err);
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
      return { ok: false, why: "missing", code };
    case "ELOOP":
      return { ok: false, why: "symlink", code };
    case "EISDIR":
    case "ENXIO":
    case "EOPNOTSUPP":
      return { ok: false, why: "not-regular", code };
    case "EACCES":
    case "EPERM":
      return { ok: false, why: "permission", code };
    default:
      return { ok: false, why: "error", ...(code ? { code } : {}) };
  }
}

/** A failure in words, for messages. */
export function describeFailure(r: { why: ReadFailure; code?: string }, bound: number): string {
  switch (r.why) {
    case "missing":
      return "missing";
    case "symlink":
      return "a symlink (not followed)";
    case "not-regular":
      return "not a regular file (a directory, FIFO, socket or device)";
    case "too-long":
      return `longer than ${bound} bytes`;
    case "permission":
      return "permission denied";
    case "error":
      return `unreadable (${r.code ?? "error"})`;
  }
}

/**
 * A short, escaped excerpt of untrusted text for a message: at most `max`
 * characters, control and non-ASCII characters written as escapes, so a log
 * line never carries a file's content or a terminal escape.
 */
export function excerpt(text: string, max = 24): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  let out = "";
  for (const ch of cut) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === "\\" || ch === '"') out += `\\${ch}`;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (ch === "\n") out += "\\n";
    else out += c <= 0xff ? `\\x${c.toString(16).padStart(2, "0")}` : `\\u{${c.toString(16)}}`;
  }
  return `"${out}"${text.length > max ? `... (${text.length} bytes)` : ""}`;
}
