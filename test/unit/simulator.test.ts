/**
 * test-support's PowerSimulator advances its tree on a thread of its own: a
 * test that blocks its own thread (a synchronous virsh save) does not stall
 * the simulated host's counters, which would then jump (the channel lab's
 * spike: guest/test/channel/spike.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseUj } from "@scaph/common";
import { copyFixture, PowerSimulator, removeTree } from "@scaph/test-support";
import { waitFor } from "../helpers/processes.js";

test("the simulated host keeps drawing while the test's thread is blocked: no stall, then no jump", async () => {
  const tree = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({ powercapRoot: tree, zones: [{ zone: "intel-rapl:0", watts: 40 }] });
  const energy = (): number => parseUj(readFileSync(join(tree, "intel-rapl:0", "energy_uj"), "utf8")) ?? NaN;
  try {
    const e0 = energy();
    sim.start();
    await waitFor("the simulator's first tick", () => (energy() > e0 ? true : null));
    const a = energy();
    const t0 = performance.now();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500); // this thread blocked for 1.5 s
    const b = energy();
    const s = (performance.now() - t0) / 1000;
    const w = (b - a) / 1e6 / s;
    console.log(`# while this thread was blocked ${s.toFixed(2)} s, the tree drew ${w.toFixed(2)} W (40 W asked)`);
    assert.ok(w > 36 && w < 42, `${w} W over the ${s} s this thread was blocked`);
    // and setWatts steps the power
    sim.setWatts("intel-rapl:0", 10);
    await waitFor("the new power", () => {
      const c = energy();
      const t = performance.now();
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
      const p = (energy() - c) / 1e6 / ((performance.now() - t) / 1000);
      return p > 8 && p < 12 ? p : null;
    });
  } finally {
    await sim.stop();
    await removeTree(tree);
  }
});
