/**
 * What the single-file guest's tests share: the guest bundle and executable
 * built once per file (npm run package --only guest-bundle,guest-sea), a
 * live powercap tree (12 W package, 3 W dram), and ways to run them bare.
 */
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree } from "@scaph/test-support";
import { buildPackages, scaphVersion } from "../helpers/packages.js";

/** The build's directory (out/ holds what it made), and the live tree; set before the tests. */
export const single = { dir: "", tree: "" };
let sim: PowerSimulator | null = null;

/** Registers the build and the tree for the calling test file. */
export function singleFileRig(): void {
  before(async () => {
    single.dir = await mkdtemp(join(tmpdir(), "scaph-single-"));
    await buildPackages(["guest-bundle", "guest-sea"], join(single.dir, "out"));
    single.tree = await copyFixture("powercap/vm-tree");
    sim = new PowerSimulator({
      powercapRoot: single.tree,
      zones: [
        { zone: "intel-rapl:0", watts: 12 },
        { zone: "intel-rapl:0:1", watts: 3 },
      ],
    });
    sim.start();
  });
  after(async () => {
    await sim?.stop();
    if (single.tree) await removeTree(single.tree);
    if (single.dir) await rm(single.dir, { recursive: true, force: true });
  });
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
export function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, [...args], { env, cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The last report's host power (µW) of `scaph-guest json` output, after checking its shape. */
export function hostPowerOf(r: Run): number {
  assert.equal(r.code, 0, r.stderr);
  const reports = JSON.parse(r.stdout) as { host: { consumption: number; value_source: string } }[];
  assert.ok(reports.length >= 2, r.stdout);
  assert.equal(reports.at(-1)?.host.value_source, "powercap_rapl_pkg");
  return reports.at(-1)?.host.consumption ?? NaN;
}
export const JSON_ARGS = ["json", "--timeout", "3", "--step", "1", "--no-channel"];
/** 12 W package and 3 W dram, over one step of a simulator ticking every 100 ms. */
export const assertPower = (uw: number): void => assert.ok(Math.abs(uw - 15e6) < 1.5e6, `host power ${uw} µW, expected 15 W`);

/** An empty directory to run in, and a PATH that holds `node` (a link to `nodeBin`) and nothing else. */
export async function bareNode(name: string, nodeBin: string): Promise<{ cwd: string; path: string; bundle: string }> {
  const cwd = join(single.dir, name, "run");
  const bin = join(single.dir, name, "bin");
  await mkdir(cwd, { recursive: true });
  await mkdir(bin, { recursive: true });
  await symlink(nodeBin, join(bin, "node"));
  const bundle = join(cwd, "scaph-guest");
  await copyFile(join(single.dir, "out", `scaph-guest-${scaphVersion}.cjs`), bundle);
  for (let d = cwd; d !== "/"; d = join(d, "..")) assert.equal(existsSync(join(d, "node_modules")), false, `no node_modules above ${cwd}`);
  return { cwd, path: bin, bundle };
}
