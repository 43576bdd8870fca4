/**
 * The guest without a toolchain: the single-file bundle run by a bare `node`
 * with no node_modules anywhere, and the executable with no Node on PATH at
 * all. Each reads a live powercap tree and reports its power. (On Debian
 * 12's own Node 18: guest-node18.system.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, copyFile, mkdir } from "node:fs/promises";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { scaphVersion, testSupportIn } from "../helpers/packages.js";
import { assertPower, bareNode, hostPowerOf, JSON_ARGS, run, single, singleFileRig } from "./single-file-rig.js";

singleFileRig();

test("the single file and the guest executable hold no test support", () => {
  const out = join(single.dir, "out");
  const files = readdirSync(out).filter((f) => f.startsWith("scaph-guest-"));
  assert.ok(files.length >= 2, files.join(", "));
  for (const f of files) assert.deepEqual(testSupportIn(join(out, f)), [], f);
});

test("the single-file guest runs with only node on PATH (no node_modules): --version and json on a live tree", async () => {
  const b = await bareNode("node-here", process.execPath);
  const env = { PATH: b.path, SCAPHANDRE_POWERCAP_PATH: single.tree, HOME: b.cwd };
  const v = await run(b.bundle, ["--version"], env, b.cwd); // its shebang finds node through PATH
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), scaphVersion);
  assertPower(hostPowerOf(await run(b.bundle, JSON_ARGS, env, b.cwd)));
});

test("the guest executable runs with no Node on PATH", async () => {
  const alone = join(single.dir, "alone");
  const exe = join(alone, "scaph-guest");
  await mkdir(alone, { recursive: true });
  await copyFile(join(single.dir, "out", `scaph-guest-${scaphVersion}-linux-x64`), exe);
  await chmod(exe, 0o755);
  const env = { PATH: "/nonexistent", SCAPHANDRE_POWERCAP_PATH: single.tree, HOME: alone };
  const v = await run(exe, ["--version"], env, alone);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), scaphVersion);
  const help = await run(exe, ["--help"], env, alone);
  assert.match(help.stdout, /Usage: scaph-guest/);
  assertPower(hostPowerOf(await run(exe, JSON_ARGS, env, alone)));
});
