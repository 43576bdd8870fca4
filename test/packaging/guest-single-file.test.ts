/**
 * The guest without a toolchain: the single-file bundle run by a bare `node`
 * (this machine's, and Debian 12's own Node 18) with no node_modules
 * anywhere, and the executable with no Node on PATH at all. Each reads a
 * live powercap tree and reports its power.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { debianNode18 } from "../helpers/debian-node.js";
import { buildPackages, scaphVersion, testSupportIn } from "../helpers/packages.js";

const CACHE = process.env.SCAPH_LAB_CACHE ?? "/var/cache/scaph-lab";
let dir = "";
let tree = "";
let sim: PowerSimulator | null = null;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "scaph-single-"));
  await buildPackages(["guest-bundle", "guest-sea"], join(dir, "out"));
  tree = await copyFixture("powercap/vm-tree");
  sim = new PowerSimulator({ powercapRoot: tree, zones: [{ zone: "intel-rapl:0", watts: 12 }, { zone: "intel-rapl:0:1", watts: 3 }] });
  sim.start();
});
after(async () => {
  await sim?.stop();
  if (tree) await removeTree(tree);
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, [...args], { env, cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The last report's host power (µW) of `scaph-guest json` output, after checking its shape. */
function hostPowerOf(r: Run): number {
  assert.equal(r.code, 0, r.stderr);
  const reports = JSON.parse(r.stdout) as { host: { consumption: number; value_source: string } }[];
  assert.ok(reports.length >= 2, r.stdout);
  assert.equal(reports.at(-1)?.host.value_source, "powercap_rapl_pkg");
  return reports.at(-1)?.host.consumption ?? NaN;
}
const JSON_ARGS = ["json", "--timeout", "3", "--step", "1", "--no-channel"];
/** 12 W package and 3 W dram, over one step of a simulator ticking every 100 ms. */
const assertPower = (uw: number): void => assert.ok(Math.abs(uw - 15e6) < 1.5e6, `host power ${uw} µW, expected 15 W`);

/** An empty directory to run in, and a PATH that holds `node` (a link to `nodeBin`) and nothing else. */
async function bareNode(name: string, nodeBin: string): Promise<{ cwd: string; path: string; bundle: string }> {
  const cwd = join(dir, name, "run");
  const bin = join(dir, name, "bin");
  await mkdir(cwd, { recursive: true });
  await mkdir(bin, { recursive: true });
  await symlink(nodeBin, join(bin, "node"));
  const bundle = join(cwd, "scaph-guest");
  await copyFile(join(dir, "out", `scaph-guest-${scaphVersion}.cjs`), bundle);
  for (let d = cwd; d !== "/"; d = join(d, "..")) assert.equal(existsSync(join(d, "node_modules")), false, `no node_modules above ${cwd}`);
  return { cwd, path: bin, bundle };
}

test("the single file and the guest executable hold no test support", () => {
  const out = join(dir, "out");
  const files = readdirSync(out).filter((f) => f.startsWith("scaph-guest-"));
  assert.ok(files.length >= 2, files.join(", "));
  for (const f of files) assert.deepEqual(testSupportIn(join(out, f)), [], f);
});

test("the single-file guest runs with only node on PATH (no node_modules): --version and json on a live tree", async () => {
  const b = await bareNode("node-here", process.execPath);
  const env = { PATH: b.path, SCAPHANDRE_POWERCAP_PATH: tree, HOME: b.cwd };
  const v = await run(b.bundle, ["--version"], env, b.cwd); // its shebang finds node through PATH
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), scaphVersion);
  assertPower(hostPowerOf(await run(b.bundle, JSON_ARGS, env, b.cwd)));
});

test("the single-file guest runs on Debian 12's own Node 18", async () => {
  requireRoot("apt-get download of Debian's nodejs 18 into the lab cache, run in a mount namespace");
  const n18 = debianNode18(CACHE);
  const b = await bareNode("node18", n18.node);
  const env = { PATH: b.path, LD_LIBRARY_PATH: n18.libraryPath, SCAPHANDRE_POWERCAP_PATH: tree, HOME: b.cwd };
  const in18 = (argv: readonly string[]): Promise<Run> => {
    const [cmd, ...args] = n18.wrap(argv);
    return run(cmd as string, args, env, b.cwd);
  };
  const nv = await in18([join(b.path, "node"), "--version"]);
  assert.match(nv.stdout, /^v18\./, `Debian's node says ${nv.stdout}${nv.stderr}`);
  const v = await in18([b.bundle, "--version"]);
  assert.equal(v.stdout.trim(), scaphVersion, v.stderr);
  assertPower(hostPowerOf(await in18([b.bundle, ...JSON_ARGS])));
});

test("the guest executable runs with no Node on PATH", async () => {
  const exe = join(dir, "alone", "scaph-guest");
  await mkdir(join(dir, "alone"), { recursive: true });
  await copyFile(join(dir, "out", `scaph-guest-${scaphVersion}-linux-x64`), exe);
  const { chmod } = await import("node:fs/promises");
  await chmod(exe, 0o755);
  const env = { PATH: "/nonexistent", SCAPHANDRE_POWERCAP_PATH: tree, HOME: join(dir, "alone") };
  const v = await run(exe, ["--version"], env, join(dir, "alone"));
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), scaphVersion);
  const help = await run(exe, ["--help"], env, join(dir, "alone"));
  assert.match(help.stdout, /Usage: scaph-guest/);
  assertPower(hostPowerOf(await run(exe, JSON_ARGS, env, join(dir, "alone"))));
});
