/**
 * The host daemon against a guest that plants things in its own share and a
 * stderr reader that goes away: it never blocks, never follows, never dies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { requireRoot } from "@scaph/test-support";
import { freePort, sleep, waitFor } from "../helpers/processes.js";
import { sample, scrape } from "../helpers/scrape.js";
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
      const { ms, code } = await timedStop(bg);
      assert.ok(ms < 3000, `stopped after ${ms} ms`);
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
    const { ms, code } = await timedStop(bg);
    assert.ok(ms < 3000, `stopped after ${ms} ms`);
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
    await rm(join(z, "energy_uj"));
    await mkdir(join(z, "energy_uj", "deep"), { recursive: true });
    await writeFile(join(z, "energy_uj", "deep", "f"), "x");
    await rm(join(z, "name"));
    await symlink(join(outside, "secret"), join(z, "name"));
    await rm(join(z, "max_energy_range_uj"));
    mkfifo(join(z, "max_energy_range_uj"));
    await rm(join(d.base, "web-1", "intel-rapl:0:0"), { recursive: true });
    await symlink(outside, join(d.base, "web-1", "intel-rapl:0:0"));
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
    await waitFor("a first log line", async () => (bg.output().length > 0 ? true : null));
    bg.child.stderr?.destroy();
    bg.child.stdout?.destroy();
    const t0 = await d.statusTime();
    await d.steps(5);
    assert.ok((await d.statusTime()) > t0);
    assert.equal(bg.child.exitCode, null);
  } finally {
    const { ms, code } = await timedStop(bg);
    assert.ok(ms < 3000);
    assert.equal(code, 0);
    await d.cleanup();
  }
});

test("a full base dir: the status and state files' failure is logged once, and so is their recovery", async () => {
  requireRoot("it mounts a small tmpfs as the base dir");
  const d = await fixtureDaemon();
  await mkdir(d.base, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "scaph-hostile", d.base]);
  // its steps counted from what it serves (its status file cannot be written while the tmpfs is full)
  const port = await freePort();
  const bg = d.start(["--prometheus", "--address", "127.0.0.1", "--port", String(port)]);
  const lastStep = async (): Promise<number> => sample(await scrape(`http://127.0.0.1:${port}/metrics`).catch(() => ""), "scaph_self_last_step_timestamp_seconds") ?? 0;
  try {
    await d.steps(1);
    try {
      execFileSync("dd", ["if=/dev/zero", `of=${join(d.base, "filler")}`, "bs=4k"], { stdio: "ignore" });
    } catch {
      // ENOSPC: the point
    }
    await waitFor("the failures to be logged", async () => (/cannot write .*\.scaph-status\.json/.test(bg.output()) && /cannot write .*\.scaph-state\.json/.test(bg.output()) ? true : null));
    // five more steps of 0.2 s with the tmpfs still full
    const t0 = await lastStep();
    await waitFor("five more steps", async () => ((await lastStep()) >= t0 + 5 * 0.2 ? true : null));
    assert.equal(bg.output().match(/cannot write .*\.scaph-status\.json/g)?.length, 1, "once, not every step");
    await rm(join(d.base, "filler"));
    await waitFor("the recovery to be logged", async () => (/\.scaph-status\.json written again/.test(bg.output()) && /\.scaph-state\.json written again/.test(bg.output()) ? true : null));
    const t = await d.statusTime();
    assert.ok(Date.now() / 1000 - t < 2, "the status file is fresh again");
  } finally {
    await timedStop(bg);
    execFileSync("umount", [d.base]);
    await d.cleanup();
  }
});
