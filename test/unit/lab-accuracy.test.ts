/** The lab's accuracy arithmetic on a simulated host tree and guest clock. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { clockOffset, readAgesMs, reportedEnergy, treeGain, TreeHistory } from "../lab/accuracy.js";
import type { Probe } from "../lab/accuracy.js";

const STEP_MS = 2000;
/** A host writing every 2 s from t=10 s, at a power that changes every write (µJ per step). */
function hostTree(): TreeHistory {
  const tree = new TreeHistory();
  let uj = 5_000_000;
  for (let i = 0; i < 40; i++) {
    tree.add({ hostMs: 10_000 + i * STEP_MS + (i % 3), uj });
    uj += 20_000_000 + (i % 5) * 7_000_000;
  }
  return tree;
}

/** Probes by a guest whose clock is `offsetMs` ahead, every 2.3 s, each read taking 30 ms. */
function probes(tree: TreeHistory, offsetMs: number): Probe[] {
  const out: Probe[] = [];
  for (let h = 10_500; h < 80_000; h += 2300) out.push({ g1Ms: h - 15 + offsetMs, g2Ms: h + 15 + offsetMs, uj: tree.valueAt(h) });
  return out;
}

test("clockOffset brackets the guest's true offset within a fraction of a step", () => {
  const tree = hostTree();
  for (const offset of [-883, 0, 1234.5]) {
    const { loMs, hiMs } = clockOffset(probes(tree, offset), tree);
    assert.ok(loMs <= offset && offset <= hiMs, `${loMs} <= ${offset} <= ${hiMs}`);
    assert.ok(hiMs - loMs < STEP_MS / 4, `width ${hiMs - loMs} ms`);
  }
});

test("clockOffset rejects a value the host never wrote, and probes that disagree", () => {
  const tree = hostTree();
  assert.throws(() => clockOffset([{ g1Ms: 11_000, g2Ms: 11_010, uj: 42 }], tree), /never wrote/);
  const p = probes(tree, 0);
  // The same value seen 10 s later by the guest's clock: no single offset fits both.
  const late = { ...p[0]!, g1Ms: p[0]!.g1Ms + 10_000, g2Ms: p[0]!.g2Ms + 10_000 };
  assert.throws(() => clockOffset([p[0]!, late], tree), /disagree/);
});

test("reportedEnergy integrates power from the second report on", () => {
  // A guest reading the tree at its report times: power = Δcounter / Δt.
  const tree = hostTree();
  const offset = 700;
  const times = [13.1, 15.2, 17.05, 19.4, 21.0, 23.3];
  const counters = times.map((s) => tree.valueAt(s * 1000 - offset));
  const reports = times.map((ts, i) => ({ ts, uw: i === 0 ? 123 : (counters[i]! - counters[i - 1]!) / (ts - times[i - 1]!) }));
  const r = reportedEnergy(reports);
  assert.equal(r.fromS, 13.1);
  assert.equal(r.toS, 23.3);
  assert.ok(Math.abs(r.uj - (counters[5]! - counters[0]!)) < 1e-3, `${r.uj} µJ`);
  assert.ok(Math.abs(treeGain(tree, r.fromS, r.toS, offset) - r.uj) < 1e-3);
  assert.throws(() => reportedEnergy(reports.slice(0, 1)), /two reports/);
});

test("maxStepUj only counts the steps that overlap the window", () => {
  const tree = hostTree();
  const all = tree.maxStepUj();
  const early = tree.maxStepUj(10_000, 13_000);
  assert.ok(early < all, `${early} < ${all}`);
  assert.equal(early, 27_000_000);
});

test("readAgesMs: time from the host's write of the value read to the read, never more than a step when the guest reads the newest", () => {
  const tree = hostTree();
  const offset = 1234;
  const ages = readAgesMs(probes(tree, offset), tree, offset);
  assert.ok(ages.length > 20);
  for (const a of ages) assert.ok(a >= 0 && a <= STEP_MS + 2, `age ${a} ms`);
  // A value read 3 s after it was replaced (a stale cache) is older than a step.
  const stale = { g1Ms: 12_500 + 3000 + offset, g2Ms: 12_500 + 3000 + offset, uj: tree.valueAt(12_500) };
  assert.ok(readAgesMs([stale], tree, offset)[0]! > STEP_MS);
});
