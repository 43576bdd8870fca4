import { closeSync, constants, futimesSync, openSync, renameSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { errnoCode } from "../errors.js";

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

/** The temporary name replaceFile writes `name` through (one per file, so a leftover is reused, never piles up). */
export function tempName(name: string): string {
  return `.${name}.scaph-tmp`;
}

/**
 * Replaces `dir/name` atomically, so a reader sees the old content or the
 * new, never half of it: a temporary file in the same directory, created
 * with O_EXCL|O_NOFOLLOW (a symlink planted there is never written through;
 * a leftover is removed first), then rename(2), which replaces whatever had
 * the name without following it. A directory at `name` (where a rename
 * cannot go) is an error (EISDIR), and nothing is removed; a writer of a
 * tree someone else may write (a VM's share) passes `onReplaced`, and a
 * directory planted there is removed, without following anything inside it,
 * the rename tried again, and `onReplaced` hears of it.
 *
 * `dir` may be `/proc/self/fd/N` for an open directory (see DirHandle), so
 * that the directory itself cannot be swapped for a symlink meanwhile.
 * `mtimeS`: the file's modification time (Unix s), set before the rename, so
 * that a reader sees the content and its time together (a VM tree's
 * energy_uj carries the host time of its value). Synchronous: it writes to
 * tmpfs or a local disk, never waits long.
 */
export function replaceFile(
  dir: string,
  name: string,
  content: string | Uint8Array,
  options: { onReplaced?: (what: string) => void; mtimeS?: number } = {},
): void {
  replaceVia(pathOps(dir), name, content, options);
}

/**
 * The operations replaceFile goes through, each on a name in one directory:
 * by path with node:fs (pathOps), or on an open directory descriptor
 * (scaph-host's VM trees, with the *at system calls). One algorithm, two
 * ways of reaching the directory.
 */
export interface ReplaceOps {
  /** Creates `name` with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0644; its descriptor. EEXIST if anything is there. */
  createExclusive(name: string): number;
  /** Writes all of `bytes`. */
  write(fd: number, bytes: Uint8Array): void;
  /** Sets access and modification times (Unix s). */
  setTimes(fd: number, timeS: number): void;
  close(fd: number): void;
  /** rename(2) within the directory: replaces what `to` is, not followed. */
  rename(from: string, to: string): void;
  /** Removes a file, symlink or directory tree at `name`, never following a symlink; silent if absent. */
  remove(name: string): void;
}

/** ReplaceOps by path under `dir` (node:fs). */
function pathOps(dir: string): ReplaceOps {
  return {
    createExclusive: (name) => openSync(`${dir}/${name}`, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644),
    write: (fd, bytes) => {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    },
    setTimes: (fd, timeS) => futimesSync(fd, timeS, timeS),
    close: (fd) => closeSync(fd),
    rename: (from, to) => renameSync(`${dir}/${from}`, `${dir}/${to}`),
    remove: (name) => removeAnything(`${dir}/${name}`),
  };
}

/** replaceFile's algorithm over `ops` (see replaceFile). */
export function replaceVia(
  ops: ReplaceOps,
  name: string,
  content: string | Uint8Array,
  options: { onReplaced?: (what: string) => void; mtimeS?: number } = {},
): void {
  const { onReplaced, mtimeS } = options;
  const tmp = tempName(name);
  let fd: number | null = null;
  for (let attempt = 0; fd === null; attempt++) {
    try {
      fd = ops.createExclusive(tmp);
    } catch (err) {
      if (errnoCode(err) !== "EEXIST" || attempt > 0) throw err;
      ops.remove(tmp); // a leftover, or anything planted there
    }
  }
  try {
    ops.write(fd, typeof content === "string" ? Buffer.from(content) : content);
    if (mtimeS !== undefined) ops.setTimes(fd, mtimeS);
  } catch (err) {
    ops.close(fd);
    ops.remove(tmp);
    throw err;
  }
  ops.close(fd);
  try {
    ops.rename(tmp, name);
  } catch (err) {
    const code = errnoCode(err);
    if (onReplaced && (code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOTDIR")) {
      ops.remove(name);
      onReplaced(`a directory at ${name}`);
      try {
        ops.rename(tmp, name);
        return;
      } catch (again) {
        ops.remove(tmp);
        throw again;
      }
    }
    ops.remove(tmp);
    throw err;
  }
}

/** Removes a file, symlink or directory tree at `path`, never following a symlink; silent if absent. */
export function removeAnything(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT") return;
    if (code === "EISDIR" || code === "EPERM") rmSync(path, { recursive: true, force: true });
    else throw err;
  }
}
