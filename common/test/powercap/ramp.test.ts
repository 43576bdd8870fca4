/**
 * CounterRamp: each step's energy shown over the step after it, so that a
 * reader with a clock and a period of its own (node_exporter's rapl
 * collector, Scaphandre or Kepler in a VM) reads its window's energy. A
 * reader of the whole-step tree finds 3 steps in a window of 2 at times
 * (scaph-guest on the channel's tree: 91.4 W on a 66 W host); of the ramped
 * one, its window within 1/n of a step.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CounterRamp, DEFAULT_MAX_UJ } from "../../src/index.js";
import { prng } from "@scaph/test-support";

const Z = "intel-rapl:0";

test("frames: n per step from the last step's counters toward the new ones, each halfway into its n-th, in value and host time; never back; wraps", () => {
  const r = new CounterRamp(4, () => 1000);
  assert.deepEqual(r.target(new Map([[Z, 100]]), 10), { values: new Map([[Z, 100]]), tS: 10 }, "the first step: shown at once");
  assert.equal(r.frame(1), null, "nothing to ramp toward yet");
  assert.deepEqual(r.target(new Map([[Z, 500]]), 11), { values: new Map([[Z, 150]]), tS: 10.125 });
  assert.deepEqual([1, 2, 3].map((j) => r.frame(j)?.values.get(Z)), [250, 350, 450]);
  assert.deepEqual([1, 2, 3].map((j) => r.frame(j)?.tS), [10.375, 10.625, 10.875]);
  assert.equal(r.frame(4), null);
  // across the counter's wrap at 1000: 900 -> 100 is +200
  r.target(new Map([[Z, 900]]), 12);
  r.target(new Map([[Z, 100]]), 13);
  assert.deepEqual([0, 1, 2, 3].map((j) => r.frame(j)?.values.get(Z)), [925, 975, 25, 75]);
  assert.deepEqual(r.latest(), { values: new Map([[Z, 100]]), tS: 13 });
});

test("one sub-step: no ramp, each step's counters at once", () => {
  const r = new CounterRamp(1, () => DEFAULT_MAX_UJ);
  assert.equal(r.target(new Map([[Z, 5]]), 1).values.get(Z), 5);
  assert.equal(r.target(new Map([[Z, 9]]), 2).values.get(Z), 9);
  assert.equal(r.frame(1), null);
});

/**
 * A tree written on a fake clock (1 s steps of `power(k)` W), by frames as a
 * writer does, each step up to 0.2 s late (a loaded daemon), and a reader
 * with a period and a phase of its own, each reading up to 0.2 s late,
 * that divides by the time it measured. Returns, for each window the reader
 * measured, its power and the lowest and highest powers attributed to the
 * steps the tree shows over it (a step late, give or take the lateness).
 */
function readByOwnClock(substeps: number, seed: number, periodS: number, power: (k: number) => number): { reader: number; lo: number; hi: number }[] {
  const rnd = prng(seed);
  const steps = 400;
  const r = new CounterRamp(substeps, () => DEFAULT_MAX_UJ);
  const shown: [number, number][] = []; // (time, value) at each write
  let e = 0;
  for (let k = 1; k < steps; k++) {
    e += Math.round(power(k - 1) * 1e6);
    const late = 0.01 * rnd();
    shown.push([k + late, r.target(new Map([[Z, e]]), k).values.get(Z) as number]);
    for (let j = 1; j < substeps; j++) {
      const f = r.frame(j);
      if (f) shown.push([k + late + j / substeps, f.values.get(Z) as number]);
    }
  }
  const at = (t: number): number => {
    let v = 0;
    for (const [ts, val] of shown) if (ts <= t) v = val;
    return v;
  };
  const out = [];
  const lag = substeps > 1 ? 1 : 0;
  for (let a = 3 + rnd(), next = a + periodS; next < steps - 3; a = next, next = a + periodS + 0.2 * rnd()) {
    const reader = (at(next) - at(a)) / 1e6 / (next - a);
    const shownSteps = [];
    for (let k = Math.floor(a - lag - 0.01); k <= Math.floor(next - lag); k++) shownSteps.push(power(k));
    out.push({ reader, lo: Math.min(...shownSteps), hi: Math.max(...shownSteps) });
  }
  return out;
}

test("a reader at any period of 2 steps or more, at any phase, reads within 5 % of a steady power", () => {
  for (const periodS of [2, 2.37, 3, 5.5, 15]) {
    for (const seed of [1, 2, 3]) {
      for (const w of readByOwnClock(16, seed, periodS, () => 30)) assert.ok(Math.abs(w.reader - 30) <= 1.5, `period ${periodS} s, seed ${seed}: read ${w.reader.toFixed(2)} W of 30 W`);
    }
  }
});

test("a power that changes every step: each window reads within 5 % of the lowest and highest powers it shows, never a spike", () => {
  for (const seed of [1, 2, 3]) {
    const rnd = prng(seed + 100);
    const power = Array.from({ length: 400 }, () => 5 + 40 * rnd());
    for (const periodS of [2, 3, 7]) {
      for (const w of readByOwnClock(16, seed, periodS, (k) => power[k] ?? 0)) {
        assert.ok(w.reader <= 1.05 * w.hi && w.reader >= 0.95 * w.lo, `period ${periodS} s: ${w.reader.toFixed(2)} W outside [${w.lo.toFixed(2)}, ${w.hi.toFixed(2)}] W`);
      }
    }
  }
});

test("the same reader on a tree that moves once a step finds a step more or less in its window: far off a steady power", () => {
  const windows = readByOwnClock(1, 1, 2, () => 30);
  const worst = Math.max(...windows.map((w) => Math.abs(w.reader - 30) / 30));
  assert.ok(worst > 0.3, `the worst window was off by ${(worst * 100).toFixed(0)} %`);
});
