import { constants } from "node:fs";
import { mkdir, open, rename, stat, unlink, rm } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, parseUj } from "@scaph/common";
import type { Logger } from "@scaph/common";
import { unsafeNameReason } from "./names.js";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY } = constants;

/**
 * An open directory. Paths below it go through `/proc/self/fd/N`, which the
 * kernel resolves to the open directory itself: a directory renamed or
 * replaced by a symlink after it was opened (a hostile guest writing into a
 * virtiofs share) cannot redirect a write, as with openat(2).
 */
export class DirHandle {
  private constructor(
    private readonly fh: FileHandle,
    /** The path it was opened by, for messages. */
    readonly shown: string,
  ) {}

  /** Opens a directory without following a symlink in its last component. */
  static async open(path: string, shown = path): Promise<DirHandle> {
    return new DirHandle(await open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW), shown);
  }

  /** Path of an entry of this directory, anchored on the open handle. */
  at(name: string): string {
    return `/proc/self/fd/${this.fh.fd}/${name}`;
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => {});
  }
}

function isNotADir(err: unknown): boolean {
  const c = errnoCode(err);
  return c === "ELOOP" || c === "ENOTDIR";
}

/**
 * Opens (creating if needed) the directory `name` inside `parent`. Anything
 * else found under that name (a symlink, a file) is removed without being
 * followed, with a warning, and a directory is made in its place.
 */
export async function openChildDir(parent: DirHandle, name: string, log: Logger): Promise<DirHandle> {
  const shown = join(parent.shown, name);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await DirHandle.open(parent.at(name), shown);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") {
        await mkdir(parent.at(name), { mode: 0o755 }).catch((e: unknown) => {
          if (errnoCode(e) !== "EEXIST") throw e;
        });
      } else if (isNotADir(err)) {
        log.warn(`tree: ${shown} is not a directory (a symlink or file planted in the share?): replaced, not followed`);
        await unlink(parent.at(name)).catch(() => rm(parent.at(name), { recursive: true, force: true }));
      } else throw err;
    }
  }
  throw new Error(`cannot make ${shown} a directory`);
}

/**
 * Replaces `name` in `dir` atomically: a new temporary file (O_EXCL |
 * O_NOFOLLOW, so a planted symlink is never written through), then rename(2),
 * which replaces whatever had the name without following it.
 */
export async function writeFileAtomic(dir: DirHandle, name: string, content: string): Promise<void> {
  const tmp = `.${name}.${process.pid}.tmp`;
  let fh: FileHandle | null = null;
  for (let attempt = 0; attempt < 2 && fh === null; attempt++) {
    try {
      fh = await open(dir.at(tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    } catch (err) {
      if (errnoCode(err) !== "EEXIST" || attempt > 0) throw err;
      await unlink(dir.at(tmp));
    }
  }
  if (fh === null) throw new Error(`cannot create ${join(dir.shown, tmp)}`);
  try {
    await fh.writeFile(content);
  } catch (err) {
    await fh.close();
    await unlink(dir.at(tmp)).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(dir.at(tmp), dir.at(name));
  } catch (err) {
    await unlink(dir.at(tmp)).catch(() => {});
    throw err;
  }
}

/**
 * Reads a counter back from the tree (at start, to continue after a
 * restart). The bytes are untrusted: a symlink is not followed, at most 64
 * bytes are read, anything but a decimal number is null.
 */
export async function readCounter(dir: DirHandle, name: string): Promise<number | null> {
  let fh: FileHandle;
  try {
    fh = await open(dir.at(name), O_RDONLY | O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    if (!(await fh.stat()).isFile()) return null;
    const buf = Buffer.alloc(64);
    const { bytesRead } = await fh.read(buf, 0, 64, 0);
    return parseUj(buf.toString("latin1", 0, bytesRead));
  } catch {
    return null;
  } finally {
    await fh.close();
  }
}

/** Opens `<base>/<name>` for a VM, refusing unsafe names and symlinks. */
export async function openVmDir(baseDir: string, name: string): Promise<DirHandle> {
  const why = unsafeNameReason(name);
  if (why !== null) throw new Error(`refusing VM name ${JSON.stringify(name)} as a directory: ${why}`);
  await mkdir(baseDir, { recursive: true, mode: 0o755 });
  const base = await DirHandle.open(baseDir);
  const path = join(baseDir, name);
  try {
    await mkdir(base.at(name), { mode: 0o755 }).catch((e: unknown) => {
      if (errnoCode(e) !== "EEXIST") throw e;
    });
    try {
      return await DirHandle.open(base.at(name), path);
    } catch (err) {
      // The host side of the share: not the guest's to change, so refuse, never delete.
      if (isNotADir(err)) throw new Error(`refusing ${path}: not a directory (a symlink?), not followed`);
      throw err;
    }
  } finally {
    await base.close();
  }
}

/** Whether a directory is a mount point (its device differs from its parent's). */
export async function isMountPoint(dir: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([stat(dir), stat(join(dir, ".."))]);
    return a.dev !== b.dev || a.ino === b.ino;
  } catch {
    return false;
  }
}
