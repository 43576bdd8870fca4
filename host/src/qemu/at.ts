import { createRequire } from "node:module";
import { getSystemErrorMap } from "node:util";
import type KoffiModule from "koffi";

/**
 * The *at(2) system calls the VM trees are written with, through koffi:
 * openat, statx, renameat, mkdirat, write, futimens, close on a directory
 * descriptor. Node's fs has none of them, and the way around it (paths
 * through `/proc/self/fd/N`, see DirHandle) walks procfs at every call and
 * builds a Stats object with four Dates at every lstat: twice the CPU of a
 * tree step (bench: `npm run bench`). koffi and libc are loaded on the
 * first call, so a command that writes no tree loads neither. For 64-bit
 * Linux (glibc 2.28+ for statx): a timespec is two int64 there.
 */

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_DIRECTORY = 0o200000;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;
/** openat's "relative to the working directory": an absolute path ignores it anyway. */
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
/** statx mask: type and mode, inode, change time. */
const STATX_MODE_INO_CTIME = 0x2 | 0x100 | 0x80;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** What the kernel says of a file, from statx(2): enough to tell whether it is the file written before. */
export interface FileIdentity {
  ino: number;
  /** Change time, ms with its fraction. */
  ctimeMs: number;
  regular: boolean;
}

/** A failed system call, shaped as Node's own (`code`, `errno`, `syscall`, `path`), so errnoCode() reads it. */
export class SysError extends Error {
  constructor(
    readonly code: string,
    readonly errno: number,
    readonly syscall: string,
    readonly path: string,
  ) {
    super(`${code}: ${errnoText(errno)}, ${syscall} '${path}'`);
    this.name = "SysError";
  }
}

let errnoNames: Map<number, [string, string]> | null = null;
function errnoText(errno: number): string {
  return (errnoNames ??= getSystemErrorMap()).get(-errno)?.[1] ?? `errno ${errno}`;
}
function errnoName(errno: number): string {
  return (errnoNames ??= getSystemErrorMap()).get(-errno)?.[0] ?? `E${errno}`;
}

interface Libc {
  koffi: typeof KoffiModule;
  openat(dirfd: number, path: string, flags: number, mode: number): number;
  close(fd: number): number;
  write(fd: number, buf: Uint8Array, n: number): number | bigint;
  statx(dirfd: number, path: string, flags: number, mask: number, out: Buffer): number;
  renameat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string): number;
  mkdirat(dirfd: number, path: string, mode: number): number;
  futimens(fd: number, times: BigInt64Array): number;
}

let libc: Libc | null = null;
function c(): Libc {
  if (libc) return libc;
  let koffi: typeof KoffiModule;
  let lib: ReturnType<typeof KoffiModule.load>;
  try {
    koffi = createRequire(import.meta.url)("koffi") as typeof KoffiModule;
    lib = koffi.load("libc.so.6");
  } catch (err) {
    throw new Error(
      `cannot load koffi and libc.so.6, which the VM trees are written with (reinstall scaph-host): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  libc = {
    koffi,
    openat: lib.func("int openat(int dirfd, const char *path, int flags, int mode)") as Libc["openat"],
    close: lib.func("int close(int fd)") as Libc["close"],
    write: lib.func("long write(int fd, const uint8_t *buf, size_t n)") as Libc["write"],
    statx: lib.func("int statx(int dirfd, const char *path, int flags, unsigned int mask, _Out_ uint8_t *buf)") as Libc["statx"],
    renameat: lib.func("int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)") as Libc["renameat"],
    mkdirat: lib.func("int mkdirat(int dirfd, const char *path, int mode)") as Libc["mkdirat"],
    futimens: lib.func("int futimens(int fd, const int64_t *times)") as Libc["futimens"],
  };
  return libc;
}

/**
 * Throws the SysError of the call that just failed (errno is read before
 * anything else runs). Its path is `dir/name`, joined only then: the
 * shown path of the directory (never /proc/self/fd/N) and the entry.
 */
function fail(syscall: string, dir: string, name: string): never {
  const errno = c().koffi.errno();
  throw new SysError(errnoName(errno), errno, syscall, dir === "" ? name : `${dir}/${name}`);
}

/** Opens the directory `path` relative to `dirfd` without following a symlink at its last component. */
export function openDirAt(dirfd: number, shownDir: string, path: string): number {
  const fd = c().openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
  return fd < 0 ? fail("open", shownDir, path) : fd;
}

/** Opens an absolute directory path (not following a symlink at its end). */
export function openDir(path: string): number {
  return openDirAt(AT_FDCWD, "", path);
}

export function closeFd(fd: number): void {
  c().close(fd);
}

export function mkdirAt(dirfd: number, shownDir: string, name: string, mode: number): void {
  if (c().mkdirat(dirfd, name, mode) < 0) fail("mkdir", shownDir, name);
}

const statxBuf = Buffer.alloc(256);

/** What is at `name` in `dirfd` (not followed), or null if nothing is. */
export function identityAt(dirfd: number, shownDir: string, name: string): FileIdentity | null {
  const l = c();
  if (l.statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_MODE_INO_CTIME, statxBuf) < 0) {
    if (errnoName(l.koffi.errno()) === "ENOENT") return null;
    fail("statx", shownDir, name);
  }
  // struct statx: stx_mode (u16) at 28, stx_ino (u64) at 32, stx_ctime {tv_sec i64, tv_nsec u32} at 96
  const mode = statxBuf.readUInt16LE(28);
  return {
    ino: Number(statxBuf.readBigUInt64LE(32)),
    ctimeMs: Number(statxBuf.readBigInt64LE(96)) * 1000 + statxBuf.readUInt32LE(104) / 1e6,
    regular: (mode & S_IFMT) === S_IFREG,
  };
}

/** Creates `name` in `dirfd` for writing: O_EXCL|O_NOFOLLOW, so nothing planted there is written through. */
export function createExclusiveAt(dirfd: number, shownDir: string, name: string, mode: number): number {
  const fd = c().openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  return fd < 0 ? fail("open", shownDir, name) : fd;
}

/** Writes all of `bytes` to `fd` (the file `name` of `shownDir`, for messages). */
export function writeAll(fd: number, bytes: Uint8Array, shownDir: string, name: string): void {
  const l = c();
  let off = 0;
  while (off < bytes.length) {
    const n = Number(l.write(fd, off === 0 ? bytes : bytes.subarray(off), bytes.length - off));
    if (n < 0) fail("write", shownDir, name);
    off += n;
  }
}

const times = new BigInt64Array(4);

/** Sets a file's access and modification times (Unix s, with its fraction). */
export function setTimes(fd: number, timeS: number, shownDir: string, name: string): void {
  const sec = Math.floor(timeS);
  const nsec = Math.min(999_999_999, Math.round((timeS - sec) * 1e9));
  times[0] = times[2] = BigInt(sec);
  times[1] = times[3] = BigInt(nsec);
  if (c().futimens(fd, times) < 0) fail("futimens", shownDir, name);
}

/** Renames `from` to `to`, both in `dirfd`: replaces whatever `to` is (not followed), as rename(2). */
export function renameAt(dirfd: number, shownDir: string, from: string, to: string): void {
  if (c().renameat(dirfd, from, dirfd, to) < 0) fail("rename", shownDir, to);
}
