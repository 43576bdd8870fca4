/**
 * The single-file guest on Debian 12's own Node 18 (apt-get download of its
 * nodejs packages into the lab cache, extracted, not installed; run in a
 * mount namespace), with no node_modules anywhere: it reads a live
 * powercap tree and reports its power.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { requireRoot } from "@scaph/test-support";
import { debianNode18 } from "../helpers/debian-node.js";
import { scaphVersion } from "../helpers/packages.js";
import { assertPower, bareNode, hostPowerOf, JSON_ARGS, run, single, singleFileRig } from "./single-file-rig.js";
import type { Run } from "./single-file-rig.js";

const CACHE = process.env.SCAPH_LAB_CACHE ?? "/var/cache/scaph-lab";
singleFileRig();

test("the single-file guest runs on Debian 12's own Node 18", async () => {
  requireRoot("apt-get download of Debian's nodejs 18 into the lab cache, run in a mount namespace");
  const n18 = debianNode18(CACHE);
  const b = await bareNode("node18", n18.node);
  const env = { PATH: b.path, LD_LIBRARY_PATH: n18.libraryPath, SCAPHANDRE_POWERCAP_PATH: single.tree, HOME: b.cwd };
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
