/** Longest domain name that becomes a directory (NAME_MAX is 255; keep room for temp files). */
export const MAX_DIR_NAME = 200;

/** Control (Cc: C0, DEL, C1 such as U+0085), format (Cf: bidi overrides, zero-width) and line/paragraph separators. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * Why a VM name cannot be a directory name under the base dir, or null if it
 * can. It must read the same to every reader and name one directory only:
 * valid UTF-8 (no U+FFFD, which is what invalid bytes decode to), in Unicode
 * NFC (so look-alike NFC/NFD spellings cannot make two directories), no
 * control, bidi, zero-width or line-separator characters, no `/`, not `.` or
 * `..`, not hidden (a leading `.` is scaph's own files), at most 200 bytes.
 */
export function unsafeNameReason(name: string): string | null {
  if (name.length === 0) return "empty name";
  if (Buffer.byteLength(name) > MAX_DIR_NAME) return `longer than ${MAX_DIR_NAME} bytes`;
  if (name === "." || name === "..") return "a relative directory name";
  if (name.includes("/")) return "contains '/'";
  if (name.includes("\0")) return "contains NUL";
  if (name.includes("\uFFFD")) return "not valid UTF-8 (or contains U+FFFD)";
  if (/[\uD800-\uDFFF]/.test(name.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""))) return "not valid UTF-8";
  if (INVISIBLE.test(name)) return "contains control, bidi, zero-width or line-separator characters";
  if (name.normalize("NFC") !== name) return "not in Unicode NFC (a look-alike of another spelling)";
  if (name.startsWith(".")) return "starts with '.'";
  return null;
}

export function isSafeDirName(name: string): boolean {
  return unsafeNameReason(name) === null;
}

/** A name as it may be quoted in a log line: JSON-escaped, and non-ASCII written \u, so no byte of it can fool a terminal. */
export function quoteName(name: string): string {
  return JSON.stringify(name).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
