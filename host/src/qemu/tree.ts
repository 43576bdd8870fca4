import { closeSync, constants, lstatSync, mkdirSync, openSync, statSync } from "node:fs";
import { join } from "node:path";
import { errnoCode, removeAnything, replaceFile } from "@scaph/common";
import type { Logger } from "@scaph/common";
import { unsafeNameReason } from "../vm/names.js";

const { O_RDONLY, O_NOFOLLOW, O_DIRECTORY } = constants;

/**
 * An open directory. Paths below it go through `/proc/self/fd/N`, which the
 * kernel resolves to the open directory itself: a directory renamed or
 * replaced by a symlink after it was opened (a hostile guest writing into a
 * virtiofs share) cannot redirect a write, as with openat(2). Synchronous:
 * the trees live on tmpfs.
 */
export class DirHandle {
  private constructor(
    private fd: number,
    /** The path it was opened by, for messages (never /proc/self/fd/N). */
    readonly shown: string,
  ) {}

  /** Opens a directory without following a symlink in its last component. */
  static open(path: string, shown = path): DirHandle {
    return new DirHandle(openSync(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW), shown);
  }

  /** The kernel's path of this directory: `/proc/self/fd/N`. */
  get anchor(): string {
    return `/proc/self/fd/${this.fd}`;
  }

  /** Path of an entry of this directory, anchored on the open handle. */
  at(name: string): string {
    return `${this.anchor}/${name}`;
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}

function isNotADir(err: unknown): boolean {
  const c = errnoCode(err);
  return c === "ELOOP" || c === "ENOTDIR";
}

/**
 * Opens (creating if needed) the directory `name` inside `parent`. Anything
 * else found under that name (a symlink, a file, a FIFO) is removed without
 * being followed, with a warning, and a directory is made in its place.
 */
export function openChildDir(parent: DirHandle, name: string, log: Logger): DirHandle {
  const shown = join(parent.shown, name);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return DirHandle.open(parent.at(name), shown);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") {
        try {
          mkdirSync(parent.at(name), { mode: 0o755 });
        } catch (e) {
          if (errnoCode(e) !== "EEXIST") throw e;
        }
      } else if (isNotADir(err)) {
        log.warn(`tree: ${shown} is not a directory (a symlink or file planted in the share?): replaced, not followed`);
        removeAnything(parent.at(name));
      } else throw err;
    }
  }
  throw new Error(`cannot make ${shown} a directory`);
}

/** What the daemon last wrote at a path: the file's inode and change time (ms, with its fraction). */
export interface WrittenFile {
  ino: number;
  ctimeMs: number;
}

/** Identity of what is at `path` now (not followed), or null if it is not a regular file. */
export function regularFileAt(path: string): WrittenFile | null {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st?.isFile() ? { ino: st.ino, ctimeMs: st.ctimeMs } : null;
}

/**
 * Replaces `name` in `dir` atomically (see replaceFile); anything planted in
 * its place is removed and said. The caller reads the file's identity after
 * (regularFileAt), so that a later step can tell whether anything changed it.
 */
export function writeInto(dir: DirHandle, name: string, content: string, log: Logger, mtimeS?: number): void {
  try {
    replaceFile(dir.anchor, name, content, {
      onReplaced: (what) => log.warn(`tree: ${what} in ${dir.shown} (planted in the share?): removed and replaced`),
      ...(mtimeS !== undefined ? { mtimeS } : {}),
    });
  } catch (err) {
    throw shownError(err, dir);
  }
}

/** The error with `/proc/self/fd/N` written as the directory's real path; EACCES says to run as root. */
export function shownError(err: unknown, dir: DirHandle): Error {
  const msg = (err instanceof Error ? err.message : String(err)).split(dir.anchor).join(dir.shown);
  const code = errnoCode(err);
  const hint = code === "EACCES" || code === "EPERM" ? ` (scaph-host qemu writes the VM trees as root: run it as root)` : "";
  return Object.assign(new Error(msg + hint), code ? { code } : {});
}

/** Opens `<base>/<name>` for a VM, refusing unsafe names and symlinks. */
export function openVmDir(base: DirHandle, name: string): DirHandle {
  const why = unsafeNameReason(name);
  if (why !== null) throw new Error(`refusing VM name ${JSON.stringify(name)} as a directory: ${why}`);
  const path = join(base.shown, name);
  for (let attempt = 0; ; attempt++) {
    try {
      return DirHandle.open(base.at(name), path);
    } catch (err) {
      // The host side of the share: not the guest's to change, so refuse, never delete.
      if (isNotADir(err)) throw new Error(`refusing ${path}: not a directory (a symlink?), not followed`);
      if (errnoCode(err) !== "ENOENT" || attempt > 0) throw err;
      try {
        mkdirSync(base.at(name), { mode: 0o755 });
      } catch (e) {
        if (errnoCode(e) !== "EEXIST") throw e;
      }
    }
  }
}

/** Opens the base dir (made if missing), under which each VM's directory is. */
export function openBaseDir(baseDir: string): DirHandle {
  try {
    return DirHandle.open(baseDir);
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw err;
    mkdirSync(baseDir, { recursive: true, mode: 0o755 });
    return DirHandle.open(baseDir);
  }
}

/** Whether a directory is a mount point (its device differs from its parent's). */
export function isMountPoint(dir: string): boolean {
  try {
    const a = statSync(dir);
    const b = statSync(join(dir, ".."));
    return a.dev !== b.dev || a.ino === b.ino;
  } catch {
    return false;
  }
}
