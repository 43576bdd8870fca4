import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { errnoCode, removeAnything, replaceVia } from "@scaph/common";
import type { Logger, ReplaceOps } from "@scaph/common";
import { unsafeNameReason } from "../vm/names.js";
import { closeFd, createExclusiveAt, identityAt, mkdirAt, openDir, openDirAt, renameAt, setTimes, writeAll } from "./at.js";

/**
 * An open directory, written through its descriptor with the *at(2) calls
 * (at.ts): a name is looked up in this directory itself, so a directory
 * renamed or replaced by a symlink after it was opened (a hostile guest
 * writing into a virtiofs share) cannot redirect a write. What has no *at
 * call here (removing a planted tree, reading back a file) goes through
 * `/proc/self/fd/N`, which the kernel resolves to the same open directory.
 * Synchronous: the trees live on tmpfs.
 */
export class DirHandle {
  private constructor(
    private fd: number,
    /** The path it was opened by, for messages (never /proc/self/fd/N). */
    readonly shown: string,
  ) {}

  /** Opens a directory without following a symlink in its last component. */
  static open(path: string): DirHandle {
    return new DirHandle(openDir(path), path);
  }

  /** Opens the directory `name` of this one (a symlink there is refused: ELOOP or ENOTDIR). */
  openChild(name: string): DirHandle {
    return new DirHandle(openDirAt(this.fd, this.shown, name), `${this.shown}/${name}`);
  }

  /** Makes the directory `name` in this one. */
  mkdir(name: string, mode = 0o755): void {
    mkdirAt(this.fd, this.shown, name, mode);
  }

  /** What is at `name` now (not followed), if it is a regular file: its inode and change time. */
  regularFile(name: string): WrittenFile | null {
    const id = identityAt(this.fd, this.shown, name);
    return id?.regular ? { ino: id.ino, ctimeMs: id.ctimeMs } : null;
  }

  /**
   * Replaces `name` atomically with common's algorithm (replaceVia: a
   * temporary file made with O_EXCL|O_NOFOLLOW, then rename(2), which
   * replaces whatever has the name without following it), here through the
   * *at calls on this directory, with `mtimeS` as its modification time. A
   * directory planted at `name` is removed (nothing in it followed) and
   * `onReplaced` hears of it.
   */
  replace(name: string, content: string, mtimeS: number | undefined, onReplaced: (what: string) => void): void {
    replaceVia(this.replaceOps(), name, content, mtimeS === undefined ? { onReplaced } : { onReplaced, mtimeS });
  }

  private ops: ReplaceOps | null = null;
  private replaceOps(): ReplaceOps {
    if (this.ops) return this.ops;
    let current = ""; // the file being written, for messages
    return (this.ops = {
      createExclusive: (name) => {
        current = name;
        return createExclusiveAt(this.fd, this.shown, name, 0o644);
      },
      write: (fd, bytes) => writeAll(fd, bytes, this.shown, current),
      setTimes: (fd, timeS) => setTimes(fd, timeS, this.shown, current),
      close: (fd) => closeFd(fd),
      rename: (from, to) => renameAt(this.fd, this.shown, from, to),
      remove: (name) => removeAnything(this.at(name)),
    });
  }

  /** The kernel's path of this directory: `/proc/self/fd/N`. */
  get anchor(): string {
    return `/proc/self/fd/${this.fd}`;
  }

  /** Path of an entry of this directory, anchored on the open handle (for what has no *at call here). */
  at(name: string): string {
    return `${this.anchor}/${name}`;
  }

  close(): void {
    if (this.fd < 0) return;
    closeFd(this.fd);
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
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return parent.openChild(name);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") {
        try {
          parent.mkdir(name);
        } catch (e) {
          if (errnoCode(e) !== "EEXIST") throw e;
        }
      } else if (isNotADir(err)) {
        log.warn(`tree: ${join(parent.shown, name)} is not a directory (a symlink or file planted in the share?): replaced, not followed`);
        removeAnything(parent.at(name));
      } else throw err;
    }
  }
  throw new Error(`cannot make ${join(parent.shown, name)} a directory`);
}

/** What the daemon last wrote at a path: the file's inode and change time (ms, with its fraction). */
export interface WrittenFile {
  ino: number;
  ctimeMs: number;
}

/**
 * Replaces `name` in `dir` atomically (DirHandle.replace); anything planted in
 * its place is removed and said. The caller reads the file's identity after
 * (DirHandle.regularFile), so that a later step can tell whether anything changed it.
 */
export function writeInto(dir: DirHandle, name: string, content: string, log: Logger, mtimeS?: number): void {
  try {
    dir.replace(name, content, mtimeS, (what) => log.warn(`tree: ${what} in ${dir.shown} (planted in the share?): removed and replaced`));
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
  for (let attempt = 0; ; attempt++) {
    try {
      return base.openChild(name);
    } catch (err) {
      // The host side of the share: not the guest's to change, so refuse, never delete.
      if (isNotADir(err)) throw new Error(`refusing ${join(base.shown, name)}: not a directory (a symlink?), not followed`);
      if (errnoCode(err) !== "ENOENT" || attempt > 0) throw err;
      try {
        base.mkdir(name);
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
