/** Longest domain name that becomes a directory (NAME_MAX is 255; keep room for temp files). */
export const MAX_DIR_NAME = 200;

/**
 * Why a VM name cannot be a directory name under the base dir, or null if it
 * can: no `/`, no NUL, not `.` or `..`, no control characters, bounded length,
 * not hidden (a leading `.` is reserved for scaph's temporary files).
 */
export function unsafeNameReason(name: string): string | null {
  if (name.length === 0) return "empty name";
  if (Buffer.byteLength(name) > MAX_DIR_NAME) return `longer than ${MAX_DIR_NAME} bytes`;
  if (name === "." || name === "..") return "a relative directory name";
  if (name.includes("/")) return "contains '/'";
  if (name.includes("\0")) return "contains NUL";
  if (/[\u0000-\u001f\u007f]/.test(name)) return "contains control characters";
  if (name.startsWith(".")) return "starts with '.'";
  return null;
}

export function isSafeDirName(name: string): boolean {
  return unsafeNameReason(name) === null;
}
