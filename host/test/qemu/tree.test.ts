import { test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errnoCode } from "@scaph/common";
import { SysError } from "../../src/qemu/at.js";
import { DirHandle } from "../../src/qemu/tree.js";

/** A fresh directory, and one beside it that a planted symlink points to (nothing may be written there). */
async function withDirs(f: (dir: string, outside: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "scaph-tree-"));
  const dir = join(root, "vm");
  const outside = join(root, "outside");
  await mkdir(dir);
  await mkdir(outside);
  try {
    await f(dir, outside);
    assert.deepEqual(await readdir(outside), [], "nothing written outside the tree");
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test("a failed call is a SysError shaped as Node's: code, errno, syscall, and the directory's own path, never /proc/self/fd", () =>
  withDirs(async (dir) => {
    const d = DirHandle.open(dir);
    try {
      assert.throws(
        () => d.openChild("missing"),
        (err: unknown) =>
          err instanceof SysError &&
          errnoCode(err) === "ENOENT" &&
          err.errno === 2 &&
          err.syscall === "open" &&
          err.path === join(dir, "missing") &&
          err.message === `ENOENT: no such file or directory, open '${join(dir, "missing")}'`,
      );
      d.mkdir("zone");
      assert.throws(
        () => d.mkdir("zone"),
        (err: unknown) => errnoCode(err) === "EEXIST" && !String((err as Error).message).includes("/proc/self/fd"),
      );
    } finally {
      d.close();
    }
    assert.throws(
      () => DirHandle.open(join(dir, "nowhere")),
      (err: unknown) => errnoCode(err) === "ENOENT",
    );
  }));

test("a symlink where a directory should be is refused, not followed", () =>
  withDirs(async (dir, outside) => {
    await symlink(outside, join(dir, "zone"));
    const d = DirHandle.open(dir);
    try {
      assert.throws(
        () => d.openChild("zone"),
        (err: unknown) => errnoCode(err) === "ELOOP" || errnoCode(err) === "ENOTDIR",
      );
    } finally {
      d.close();
    }
    assert.throws(
      () => DirHandle.open(join(dir, "zone")),
      (err: unknown) => errnoCode(err) === "ELOOP" || errnoCode(err) === "ENOTDIR",
    );
  }));

test("regularFile: a file's inode and change time as lstat gives them; null for a symlink, a directory or nothing", () =>
  withDirs(async (dir, outside) => {
    await writeFile(join(dir, "name"), "package-0\n");
    await writeFile(join(outside, "target"), "x");
    await symlink(join(outside, "target"), join(dir, "link"));
    await mkdir(join(dir, "sub"));
    const d = DirHandle.open(dir);
    try {
      const st = await lstat(join(dir, "name"));
      const id = d.regularFile("name");
      assert.ok(id);
      assert.equal(id.ino, st.ino);
      assert.ok(Math.abs(id.ctimeMs - st.ctimeMs) < 0.001, `${id.ctimeMs} against lstat's ${st.ctimeMs}`);
      assert.equal(d.regularFile("link"), null);
      assert.equal(d.regularFile("sub"), null);
      assert.equal(d.regularFile("missing"), null);
    } finally {
      d.close();
    }
    await rm(join(outside, "target"));
  }));

test("replace: the content and its modification time at once; a planted directory at the name or a symlink at the temporary name is removed, never followed", () =>
  withDirs(async (dir, outside) => {
    const d = DirHandle.open(dir);
    const said: string[] = [];
    try {
      d.replace("energy_uj", "123\n", 1_700_000_000.25, (w) => said.push(w));
      assert.equal(await readFile(join(dir, "energy_uj"), "utf8"), "123\n");
      const st = await stat(join(dir, "energy_uj"));
      assert.equal(st.mtimeMs, 1_700_000_000_250);
      assert.equal(st.mode & 0o777, 0o644 & ~process.umask());
      // a directory planted at the name (with a file in it), and a symlink at the temporary name
      await rm(join(dir, "energy_uj"));
      await mkdir(join(dir, "energy_uj"));
      await writeFile(join(dir, "energy_uj", "inside"), "x");
      await symlink(join(outside, "victim"), join(dir, ".energy_uj.scaph-tmp"));
      d.replace("energy_uj", "456\n", undefined, (w) => said.push(w));
      assert.equal(await readFile(join(dir, "energy_uj"), "utf8"), "456\n");
      assert.deepEqual(said, ["a directory at energy_uj"]);
      assert.deepEqual((await readdir(dir)).sort(), ["energy_uj"]);
    } finally {
      d.close();
    }
  }));
