/**
 * scaph-guest on a tree that fights back (the share may be written by
 * anyone with access to it): FIFOs, devices, symlinks to secrets, huge files,
 * directories where files belong. It ends, stays small, and says what is
 * wrong without quoting what it should not.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { waitFor, writeAtomic } from "@scaph/test-support";
import { guestBin } from "../helpers/cli.js";
import { startBackground } from "../helpers/processes.js";
import { guestJson, mkfifo, RSS_BOUND, withTree } from "./rig.js";
import type { GuestRun } from "./rig.js";

const reports = (r: GuestRun): { host: { consumption: number }; sockets: { domains: { name: string }[] }[] }[] =>
  JSON.parse(r.stdout) as { host: { consumption: number }; sockets: { domains: { name: string }[] }[] }[];

test("a FIFO at energy_uj: the run ends on time, each step skipped with a line", () =>
  withTree(async (tree) => {
    const e = join(tree, "intel-rapl:0", "energy_uj");
    await rm(e);
    mkfifo(e);
    const r = await guestJson(tree, 2);
    // it ended by itself (a read blocked on the FIFO would have it killed at guestJson's deadline: code null)
    assert.equal(r.code, 0, r.stderr);
    console.log(`# a run of -t 2 took ${r.ms} ms`);
    assert.deepEqual(reports(r), []);
    assert.match(r.stderr, /intel-rapl:0\/energy_uj: not a regular file/);
  }));

test("/dev/zero behind energy_uj (a symlink): no read at all, memory stays small", () =>
  withTree(async (tree) => {
    const e = join(tree, "intel-rapl:0", "energy_uj");
    await rm(e);
    await symlink("/dev/zero", e);
    const r = await guestJson(tree, 2);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.peakRss < RSS_BOUND, `peak RSS ${(r.peakRss / 1e6).toFixed(0)} MB`);
    assert.match(r.stderr, /energy_uj: a symlink \(not followed\)/);
  }));

test("a 200 MB name and a 50 MB dram name: not read, not copied into reports; a directory at name: no crash", () =>
  withTree(async (tree) => {
    await truncate(join(tree, "intel-rapl:0", "name"), 200 * 1024 * 1024);
    await writeFile(join(tree, "intel-rapl:0:1", "name"), "dram".repeat(12 * 1024 * 1024));
    await rm(join(tree, "intel-rapl:0:0", "name"));
    await mkdir(join(tree, "intel-rapl:0:0", "name"));
    const r = await guestJson(tree, 2);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.peakRss < RSS_BOUND, `peak RSS ${(r.peakRss / 1e6).toFixed(0)} MB`);
    assert.doesNotMatch(r.stdout, /(dram){8}/, "the long name is in no report");
    const names = reports(r)[0]?.sockets[0]?.domains.map((d) => d.name);
    assert.deepEqual(names, ["domain-0", "domain-1"], "names inferred from the directories");
    assert.match(r.stderr, /intel-rapl:0\/name is longer than 256 bytes: ignored/);
    assert.match(r.stderr, /intel-rapl:0:0\/name is not a regular file/);
    assert.doesNotMatch(r.stderr, /internal error|at .*\.js:\d+/);
  }));

test("a symlink to /etc/shadow: refused, and no byte of it is quoted", () =>
  withTree(async (tree) => {
    const e = join(tree, "intel-rapl:0", "energy_uj");
    await rm(e);
    await symlink("/etc/shadow", e);
    const r = await guestJson(tree, 1);
    const shadow = await readFile("/etc/shadow", "utf8").catch(() => "root:");
    assert.doesNotMatch(r.stderr + r.stdout, new RegExp(shadow.slice(0, 5).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    assert.match(r.stderr, /energy_uj: a symlink \(not followed\)/);
  }));

test("a malformed value at start is a skipped step, not an exit; garbage with a terminal escape is quoted short and escaped", () =>
  withTree(async (tree) => {
    const e = join(tree, "intel-rapl:0", "energy_uj");
    await writeAtomic(e, "\u001b[2J" + "x".repeat(40) + "\n");
    const bg = startBackground(process.execPath, [guestBin, "json", "-t", "4", "-s", "0.5", "--powercap-path", tree]);
    let stdout = "";
    bg.child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    // the bad value seen and its step skipped, then a good one
    await waitFor("the malformed value's skipped step", () => /Malformed .*energy_uj/.test(bg.output()), 30_000);
    await writeAtomic(e, "1000\n");
    const code = await new Promise<number | null>((r) => bg.child.on("exit", (c) => r(c)));
    const stderr = bg.output().replace(stdout, "");
    assert.equal(code, 0, stderr);
    assert.match(stderr, /Malformed .*energy_uj: expected a decimal count of microjoules, got "\\x1b\[2Jxxxxxxxxxxxxxxxxxxxx"\.\.\. \(45 bytes\)/);
    assert.doesNotMatch(stderr, /\u001b/, "no terminal escape reaches the log");
    const json = JSON.parse(stdout) as unknown[];
    assert.ok(json.length >= 2, "reports once the value reads");
  }));
