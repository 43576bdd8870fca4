/** scaph-guest on a tree whose energy_uj is /dev/zero's device node (made with mknod, as root): no read at all, memory stays small. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { requireRoot } from "@scaph/test-support";
import { guestJson, RSS_BOUND, withTree } from "./rig.js";

test("/dev/zero's device node at energy_uj and at dram's: no read at all, memory stays small", () =>
  withTree(async (tree) => {
    requireRoot("it makes device nodes with mknod");
    for (const zone of ["intel-rapl:0", "intel-rapl:0:1"]) {
      const e = join(tree, zone, "energy_uj");
      await rm(e);
      execFileSync("mknod", [e, "c", "1", "5"]);
    }
    const r = await guestJson(tree, 2);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.peakRss < RSS_BOUND, `peak RSS ${(r.peakRss / 1e6).toFixed(0)} MB`);
    assert.match(r.stderr, /energy_uj: not a regular file/);
  }));
