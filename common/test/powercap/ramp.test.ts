/**
 * CounterPlayer: each step's energy played out over the step after it, and
 * an absence's energy over as long as the absence, so that a reader with a
 * clock and a period of its own (node_exporter's rapl collector, Scaphandre
 * or Kepler in a VM) reads its window's energy. A reader of a tree that
 * moves once a step finds 3 steps in a window of 2 at times (scaph-guest on
 * the channel's tree: 91.4 W on a 66 W host).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CATCH_UP, CounterPlayer, DEFAULT_MAX_UJ } from "../../src/index.js";
import { prng } from "@scaph/test-support";

const Z = "intel-rapl:0";

test("frames: a push is played over the host time it covers, after what is queued; its last frame is it whole; wraps; one frame a step shows each push at once", () => {
  let now = 100;
  const p = new CounterPlayer(
    4,
    () => 1000,
    () => now,
  );
  p.push(new Map([[Z, 100]]), 10, 1);
  assert.deepEqual(p.frame(), { values: new Map([[Z, 100]]), tS: 10 }, "the first push: shown at once");
  assert.equal(p.frame(), null, "nothing new");
  p.push(new Map([[Z, 500]]), 11, 1);
  const at = (t: number) => {
    now = t;
    return p.frame();
  };
  // frames a quarter of a second apart, each shown at the middle of its span
  assert.deepEqual(
    [100, 100.25, 100.5, 100.75].map((t) => at(t)?.values.get(Z)),
    [150, 250, 350, 450],
  );
  assert.deepEqual(at(101)?.values.get(Z), 500);
  assert.equal(p.busy(), false);
  // two pushes at once: the second is played after the first; across the counter's wrap at 1000, 900 -> 100 is +200
  p.push(new Map([[Z, 900]]), 12, 1);
  p.push(new Map([[Z, 100]]), 13, 1);
  assert.deepEqual(
    [101.375, 102.375, 102.625].map((t) => at(t)?.values.get(Z)),
    [700, 0, 50],
  );
  assert.deepEqual(p.latest(), { values: new Map([[Z, 100]]), tS: 13 });
  const once = new CounterPlayer(
    1,
    () => DEFAULT_MAX_UJ,
    () => now,
  );
  once.push(new Map([[Z, 5]]), 1, 1);
  once.push(new Map([[Z, 9]]), 2, 1);
  assert.equal(once.frame()?.values.get(Z), 9);
});

test("resumed from where a tree stood, the first push is played on from there over the absence it covers, not at once", () => {
  let now = 0;
  const p = new CounterPlayer(
    10,
    () => DEFAULT_MAX_UJ,
    () => now,
  );
  p.resume({ values: new Map([[Z, 1_000]]), tS: 50 });
  p.push(new Map([[Z, 6_000]]), 55, 5); // the writer was away 5 s
  now = 0;
  assert.equal(p.frame()?.values.get(Z), 1_250);
  for (; now < 2.5; now += 0.5) p.frame(); // the frames, every frame's span
  assert.equal(p.frame()?.values.get(Z), 3_750);
  // a tree resumed behind its counters (it stood 5 s of host time before what the state covers): played over the 10 s it spans
  let t = 0;
  const q = new CounterPlayer(
    10,
    () => DEFAULT_MAX_UJ,
    () => t,
  );
  q.resume({ values: new Map([[Z, 0]]), tS: 45 });
  q.push(new Map([[Z, 10_000]]), 55, 5);
  for (; t < 4.75; t += 0.25) q.frame();
  t = 4.75; // (a frame shows the middle of its half second)
  assert.equal(q.frame()?.values.get(Z), 5_000, "half of it after half of 10 s, not after half of 5 s");
});

test("a push that adds no energy is passed in a frame; a push for a host time already shown is played at the time reached", () => {
  let now = 0;
  const p = new CounterPlayer(
    4,
    () => DEFAULT_MAX_UJ,
    () => now,
  );
  p.push(new Map([[Z, 100]]), 10, 1);
  p.frame();
  p.push(new Map([[Z, 100]]), 40, 30, 1); // 30 s no line covered (a VM saved): nothing to play
  p.push(new Map([[Z, 500]]), 41, 1);
  now = 0.25;
  assert.deepEqual(p.frame(), { values: new Map([[Z, 150]]), tS: 40.125 }, "the flat 30 s passed in a frame, then the next second");
  now = 0.5;
  assert.deepEqual(p.frame(), { values: new Map([[Z, 250]]), tS: 40.375 });
  for (; now < 1.5; now += 0.25) p.frame();
  // a line for host time 39.5 (a migration's destination, once the VM runs there): its energy at 41 s, not back at 39.5
  p.push(new Map([[Z, 900]]), 39.5, 1);
  for (; now < 2.5; now += 0.25) assert.ok((p.frame()?.tS ?? 41) >= 41, "the host time shown never goes back");
  assert.deepEqual(p.latest(), { values: new Map([[Z, 900]]), tS: 41 });
});

/**
 * A writer and a reader on a fake clock: the writer pushes the counters of
 * 1 s host steps of `power(k)` W, each up to 10 ms late (a daemon's step
 * takes milliseconds), writing a frame at each push and then every frame's
 * span while frames remain; `gaps` are absences (no push; the next push
 * covers them); `stalls`, times the writer's process does not run (a push
 * due then comes at the stall's end). A reader with a period and a phase of its own, each reading
 * up to 0.2 s late, divides by the time it measured. Returns, for each
 * window, its power and the lowest and highest powers of the host steps
 * whose energy the tree can have shown in it.
 */
function readByOwnClock(
  frames: number,
  seed: number,
  periodS: number,
  power: (k: number) => number,
  gaps: [number, number][] = [],
  stalls: [number, number][] = [],
): { reader: number; lo: number; hi: number }[] {
  const awake = (t: number): number => stalls.find(([a, b]) => t >= a && t < b)?.[1] ?? t;
  const rnd = prng(seed);
  const steps = 300;
  let now = 0;
  const p = new CounterPlayer(
    frames,
    () => DEFAULT_MAX_UJ,
    () => now,
  );
  const writes: [number, number][] = []; // (time, value)
  const write = (): void => {
    const f = p.frame();
    if (f) writes.push([now, f.values.get(Z) as number]);
  };
  let e = 0;
  let lastPushK = 0;
  for (let k = 1; k < steps; k++) {
    e += Math.round(power(k - 1) * 1e6);
    if (gaps.some(([a, b]) => k >= a && k < b)) continue;
    const pushAt = awake(k + 0.01 * rnd());
    // the frames due before this push
    while (p.busy()) {
      const next = awake(Math.max(now, writes.at(-1)?.[0] ?? 0) + p.frameS());
      if (next >= pushAt) break;
      now = next;
      write();
    }
    now = pushAt;
    p.push(new Map([[Z, e]]), k, k - lastPushK);
    lastPushK = k;
    write();
  }
  const at = (t: number): number => {
    let v = 0;
    for (const [ts, val] of writes) if (ts <= t) v = val;
    return v;
  };
  const out = [];
  for (let a = 3 + rnd(), next = a + periodS; next < steps - 3; a = next, next = a + periodS + 0.2 * rnd()) {
    const reader = (at(next) - at(a)) / 1e6 / (next - a);
    // the tree shows a step's energy a step later (more after an absence, until caught up)
    const lag = frames > 1 ? 1 + [...gaps, ...stalls].reduce((s, [g0, g1]) => (a > g1 ? s + Math.max(0, g1 - g0) : s), 0) : 0;
    const shown = [];
    for (let k = Math.max(0, Math.floor(a - lag - 0.05)); k <= Math.floor(next); k++) shown.push(power(k));
    out.push({ reader, lo: Math.min(...shown), hi: Math.max(...shown) });
  }
  return out;
}

test("a reader at any period of 2 steps or more, at any phase, reads within 5 % of a steady power", () => {
  for (const periodS of [2, 2.37, 3, 5.5, 15]) {
    for (const seed of [1, 2, 3]) {
      for (const w of readByOwnClock(16, seed, periodS, () => 30))
        assert.ok(Math.abs(w.reader - 30) <= 1.5, `period ${periodS} s, seed ${seed}: read ${w.reader.toFixed(2)} W of 30 W`);
    }
  }
});

test("a power that changes every step: each window reads within 5 % of the lowest and highest powers it can show, never a spike", () => {
  for (const seed of [1, 2, 3]) {
    const rnd = prng(seed + 100);
    const power = Array.from({ length: 400 }, () => 5 + 40 * rnd());
    for (const periodS of [2, 3, 7]) {
      for (const w of readByOwnClock(16, seed, periodS, (k) => power[k] ?? 0)) {
        assert.ok(
          w.reader <= 1.05 * w.hi && w.reader >= 0.95 * w.lo,
          `period ${periodS} s: ${w.reader.toFixed(2)} W outside [${w.lo.toFixed(2)}, ${w.hi.toFixed(2)}] W`,
        );
      }
    }
  }
});

test("the writer away 5 s (a receiver restarted): the absence's energy comes over as long, a steady power never read 5 % above", () => {
  const windows = readByOwnClock(16, 4, 2, () => 30, [
    [50, 55],
    [120, 126],
  ]);
  const worst = Math.max(...windows.map((w) => w.reader));
  assert.ok(CATCH_UP <= 1.02 && worst <= 30 * 1.05, `the highest window read ${worst.toFixed(2)} W of 30 W`);
  assert.ok(windows.filter((w) => w.reader < 1).length <= 4, "read nothing only while the writer was away");
});

test("the writer's process stalled 1.2 s (starved of CPU, as in a soak's busy TCG guest): the tree goes on from where it stood, never read 5 % above", () => {
  for (const seed of [5, 6, 7]) {
    const windows = readByOwnClock(
      16,
      seed,
      2.4,
      () => 30,
      [],
      [
        [40.3, 41.5],
        [90.7, 91.4],
        [150.1, 152.6],
      ],
    );
    const worst = Math.max(...windows.map((w) => w.reader));
    assert.ok(worst <= 30 * 1.05, `seed ${seed}: the highest window read ${worst.toFixed(2)} W of 30 W`);
  }
});

test("the same reader on a tree that moves once a step finds a step more or less in its window: far off a steady power", () => {
  const worst = Math.max(...readByOwnClock(1, 1, 2, () => 30).map((w) => Math.abs(w.reader - 30) / 30));
  assert.ok(worst > 0.3, `the worst window was off by ${(worst * 100).toFixed(0)} %`);
});
