/**
 * The host daemon against a guest that plants things in its own share and a
 * stderr reader that goes away: it never blocks, never follows, never dies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, readFile, readdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sleep, waitFor } from "../helpers/processes.js";
import { fixtureDaemon, leftoverTemps, mkfifo, timedStop } from "./rig.js";

const VMS = ["odd,name", "plainvm", "pve-vm", "rhel-vm", "web-1"];

test("a FIFO planted at energy_uj and name before the daemon starts: every tree is still written; SIGTERM ends it at once", async () => {
  const d = await fixtureDaemon();
  try {
    const z = join(d.base, "web-1", "intel-rapl:0");
    await mkdir(z, { recursive: true });
    mkfifo(join(z, "energy_uj"));
    mkfifo(join(z, "name"));
    mkfifo(join(d.base, "rhel-vm.fifo"));
    const bg = d.start();
    try {
      await d.steps(3);
      for (const vm of VMS) assert.ok((await lstat(join(d.base, vm, "intel-rapl:0", "energy_uj"))).isFile(), vm);
      assert.equal((await readFile(join(z, "energy_uj"), "utf8")).trim(), "0");
      assert.equal((await readFile(join(z, "name"), "utf8")).trim(), "package-0");
    } finally {
      const { code } = await timedStop(bg);
      assert.equal(code, 0, bg.output());
    }
    assert.deepEqual(await leftoverTemps(d.base), []);
  } finally {
    await d.cleanup();
  }
});

test("SIGHUP does not kill the daemon mid-step; SIGTERM leaves no temporary file", async () => {
  const d = await fixtureDaemon();
  const bg = d.start();
  try {
    await d.steps(1);
    for (let i = 0; i < 20; i++) {
      bg.child.kill("SIGHUP");
      await sleep(23);
    }
    await d.steps(2);
    assert.equal(bg.child.exitCode, null, bg.output());
    assert.match(bg.output(), /SIGHUP ignored/);
  } finally {
    const { code } = await timedStop(bg);
    assert.equal(code, 0);
  }
  assert.deepEqual(await leftoverTemps(d.base), []);
  await d.cleanup();
});

test("anything planted at a zone path is replaced within one step, never followed", async () => {
  const d = await fixtureDaemon();
  const outside = join(d.dir, "outside");
  await mkdir(outside);
  await writeFile(join(outside, "secret"), "precious\n");
  const bg = d.start();
  try {
    await d.steps(2);
    const z = join(d.base, "web-1", "intel-rapl:0");
    const dram = join(d.base, "web-1", "intel-rapl:0:2");
    // A directory (with content) at a file; a symlink at a file; a FIFO; a symlink at a zone dir; a file of the guest's.
    // The daemon runs all along (a step every 200 ms): each plant is made beside the share and renamed into place,
    // so the daemon never sees half of it; plant() retries if the daemon put its file back before the rename.
    const stage = (n: string): string => join(d.dir, `stage-${n}`);
    await mkdir(join(stage("dir"), "deep"), { recursive: true });
    await writeFile(join(stage("dir"), "deep", "f"), "x");
    await symlink(join(outside, "secret"), stage("link"));
    mkfifo(stage("fifo"));
    await symlink(outside, stage("dirlink"));
    await plant(stage("dir"), join(z, "energy_uj"));
    await plant(stage("link"), join(z, "name"));
    await plant(stage("fifo"), join(z, "max_energy_range_uj"));
    await plant(stage("dirlink"), join(d.base, "web-1", "intel-rapl:0:0"));
    await writeFile(join(dram, "name"), "package-7\n"); // in place, same size class: still not the daemon's file
    await d.steps(2);
    for (const f of ["energy_uj", "name", "max_energy_range_uj"]) assert.ok((await lstat(join(z, f))).isFile(), f);
    assert.ok((await lstat(join(d.base, "web-1", "intel-rapl:0:0"))).isDirectory());
    assert.equal((await readFile(join(z, "name"), "utf8")).trim(), "package-0");
    assert.equal((await readFile(join(z, "max_energy_range_uj"), "utf8")).trim(), "262143328850");
    assert.equal((await readFile(join(dram, "name"), "utf8")).trim(), "dram");
    assert.equal(await readFile(join(outside, "secret"), "utf8"), "precious\n");
    assert.deepEqual(await readdir(outside), ["secret"]);
    assert.match(bg.output(), /a directory at energy_uj in .*web-1\/intel-rapl:0 \(planted in the share\?\): removed and replaced/);
    assert.doesNotMatch(bg.output(), /\/proc\/self\/fd/, "messages name real paths");
  } finally {
    await timedStop(bg);
    await d.cleanup();
  }
});

test("stderr's reader goes away (EPIPE): the daemon goes on writing every VM's tree", async () => {
  const d = await fixtureDaemon();
  const bg = d.start();
  try {
    await waitFor("a first log line", () => (bg.output().length > 0 ? true : null));
    bg.child.stderr?.destroy();
    bg.child.stdout?.destroy();
    const t0 = await d.statusTime();
    await d.steps(5);
    assert.ok((await d.statusTime()) > t0);
    assert.equal(bg.child.exitCode, null);
  } finally {
    const { code } = await timedStop(bg);
    assert.equal(code, 0);
    await d.cleanup();
  }
});

/** Renames `staged` over `path`; what is at `path` (and is put back there while we try) is removed first. */
async function plant(staged: string, path: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await rename(staged, path); // a file or symlink replaces a file at once; a directory needs the place empty
      return;
    } catch (err) {
      if (attempt >= 50) throw err;
      await rm(path, { recursive: true, force: true });
    }
  }
}
