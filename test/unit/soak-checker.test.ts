/**
 * The soak's checker on synthetic runs: a clean one passes, and each
 * planted fault breaks its invariant: a spike, a loss above one step, a
 * counter that goes back, a guest that stays stale, a daemon that grows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkSoak, verdictTable } from "../soak/checker.js";
import type { SoakRun } from "../soak/run.js";

const T0 = 1_795_900_000;
const W = 20e6; // µW

/** A run of VM g1 with 1 s steps, nothing in it yet, seen until nowMs. */
function emptyRun(nowMs: number): SoakRun {
  return { lines: [], applied: [], reports: [], reader: [], events: [], agentDown: [], daemons: [], stepS: 1, vms: ["g1"], nowMs };
}

/**
 * One VM on host A at 20 W, 1 s steps, 60 s: the daemon is killed at 30 s
 * (its epoch's line 30 never reaches the guest; epoch 2 begins at 31 s); the
 * guest applies each other line 0.2 s after it, reports each step, and a
 * reader reads its tree every 2.37 s (the tree a step late).
 */
function cleanRun(): SoakRun {
  const run = emptyRun((T0 + 80) * 1000);
  let counter = 0;
  const last = new Map<string, number>();
  for (let s = 1; s <= 60; s++) {
    const epoch = s <= 30 ? "e1" : "e2";
    const seq = s <= 30 ? s : s - 30;
    const uj = seq * W;
    const tS = T0 + s;
    run.lines.push({ host: "A", vm: "g1", epoch, seq, tS, stepS: 1, uj });
    if (s === 30) continue; // killed before its line got out
    last.set(epoch, uj);
    counter = [...last.values()].reduce((a, b) => a + b, 0);
    run.applied.push({ vm: "g1", boot: 1, epoch, seq, tS, counterUj: counter, seenMs: tS * 1000 + 200 });
    if (s > 1) run.reports.push({ vm: "g1", boot: 1, run: 1, tS, uw: s === 31 ? W : W });
  }
  for (let t = 3; t < 60; t += 2.37) run.reader.push({ vm: "g1", boot: 1, upS: t, uj: Math.round((t - 2) * W), seenMs: (T0 + t) * 1000 });
  run.events.push({ type: "daemon-kill", target: "A", startMs: (T0 + 30) * 1000, endMs: (T0 + 30.5) * 1000 });
  for (let k = 0; k < 12; k++) run.daemons.push({ host: "A", ms: (T0 + 5 * k) * 1000, rssBytes: (60 + (k % 2)) * 2 ** 20, fds: 20 });
  return run;
}

test("a clean run: no breach; the killed daemon's last line is a loss of one step, caused by daemon-kill; the table", () => {
  const v = checkSoak(cleanRun());
  assert.deepEqual(v.breaches, []);
  assert.equal(v.losses.length, 1);
  assert.deepEqual({ ...v.losses[0], causes: v.losses[0]?.causes }, { vm: "g1", epoch: "e1", uj: W, stepUj: W, causes: ["daemon-kill A"] });
  assert.ok(v.worstReportRatio > 0.99 && v.worstReportRatio < 1.01, String(v.worstReportRatio));
  assert.ok(v.worstReaderRatio > 0.9 && v.worstReaderRatio < 1.05, String(v.worstReaderRatio));
  assert.deepEqual(v.energy, [{ vm: "g1", sentUj: 60 * W, countedUj: 59 * W }]);
  assert.ok(v.checked.reports >= 50 && v.checked.readerWindows >= 20, JSON.stringify(v.checked));
  const table = verdictTable(v, 1);
  assert.match(table, /\| daemon-kill \| 1 \| 20\.00 \| 1\.00 \|/);
  assert.match(table, /\| g1 \| 1200\.00 \| 1180\.00 \|/);
  assert.match(table, /over \d+ reports/);
});

test("a planted spike: a report of 1.5 times what the hosts attributed breaks 'no spike'; so does a reader's", () => {
  const run = cleanRun();
  run.reports[10]!.uw = 1.5 * W;
  run.reader[8]!.uj += 20e6;
  const v = checkSoak(run);
  const spikes = v.breaches.filter((b) => b.invariant === "no spike");
  assert.equal(spikes.length, 2, JSON.stringify(v.breaches)); // the report, and the reader's window into the planted value
  assert.match(spikes[0]!.what, /a report of 30\.00 W .* at most 20\.00 W/);
});

test("a live migration: the power both hosts attribute at once adds up (the destination's qemu draws too); above the sum is a spike", () => {
  // g1 moves from A to B: B's epoch begins at 30 s at 2 W (the incoming qemu), the guest runs on B from 40 s at 20 W
  const run = cleanRun();
  run.lines = run.lines.filter((l) => l.epoch === "e1");
  run.applied = run.applied.filter((a) => a.epoch === "e1");
  run.reports = run.reports.filter((r) => r.tS <= T0 + 30);
  run.events = [{ type: "migrate", target: "g1", startMs: (T0 + 30) * 1000, endMs: (T0 + 40) * 1000 }];
  const a = (s: number): number => Math.min(s, 40) * W;
  const b = (s: number): number => (Math.min(s, 40) - 30) * 0.1 * W + Math.max(0, s - 40) * W;
  for (let s = 31; s <= 60; s++) {
    if (s <= 40) run.lines.push({ host: "A", vm: "g1", epoch: "e1", seq: s, tS: T0 + s, stepS: 1, uj: a(s) });
    run.lines.push({ host: "B", vm: "g1", epoch: "eB", seq: s - 30, tS: T0 + s, stepS: 1, uj: b(s) });
    if (s <= 40) run.applied.push({ vm: "g1", boot: 1, epoch: "e1", seq: s, tS: T0 + s, counterUj: a(s) + b(s - 1), seenMs: (T0 + s) * 1000 + 200 });
    run.applied.push({ vm: "g1", boot: 1, epoch: "eB", seq: s - 30, tS: T0 + s, counterUj: a(s) + b(s), seenMs: (T0 + s) * 1000 + 300 });
    run.reports.push({ vm: "g1", boot: 1, run: 1, tS: T0 + s, uw: s <= 40 ? 1.1 * W : W });
  }
  run.reader = run.reader.filter((r) => r.upS < 28);
  const v = checkSoak(run);
  assert.deepEqual(v.breaches, []);
  assert.ok(v.worstReportRatio > 0.99 && v.worstReportRatio < 1.01, String(v.worstReportRatio));
  run.reports.find((r) => r.tS === T0 + 35)!.uw = 1.2 * W;
  const spikes = checkSoak(run).breaches.filter((x) => x.invariant === "no spike");
  assert.equal(spikes.length, 1, JSON.stringify(spikes));
  assert.match(spikes[0]!.what, /a report of 24\.00 W .* at most 22\.00 W/);
});

test("a planted loss above one step breaks 'conservation', naming what was around it", () => {
  const run = cleanRun();
  // the guest also misses lines 27-29 of epoch 1, with no agent down then
  run.applied = run.applied.filter((a) => !(a.epoch === "e1" && a.seq >= 27));
  const e2 = run.applied.filter((a) => a.epoch === "e2");
  for (const a of e2) a.counterUj -= 3 * W;
  const v = checkSoak(run);
  const c = v.breaches.filter((b) => b.invariant === "conservation");
  assert.equal(c.length, 1, JSON.stringify(v.breaches));
  assert.match(c[0]!.what, /epoch e1 lost 80000000 µJ, more than one step \(20000000 µJ\); around: daemon-kill A/);
  // the same loss while the agent was down 4 s: allowed
  run.agentDown.push({ vm: "g1", fromMs: (T0 + 26) * 1000, toMs: (T0 + 30.5) * 1000 });
  assert.deepEqual(
    checkSoak(run).breaches.filter((b) => b.invariant === "conservation"),
    [],
  );
});

test("a guest counter that goes back breaks 'monotonic'; one that does not add up breaks 'conservation'", () => {
  const run = cleanRun();
  run.applied[20]!.counterUj = run.applied[19]!.counterUj - 5;
  const v = checkSoak(run);
  assert.ok(
    v.breaches.some((b) => b.invariant === "monotonic" && /went from \d+ to \d+ µJ/.test(b.what)),
    JSON.stringify(v.breaches),
  );
  assert.ok(v.breaches.some((b) => b.invariant === "conservation" && /the lines it applied add up to/.test(b.what)));
});

test("a guest that applies nothing for 10 s after an event breaks 'live'", () => {
  const run = cleanRun();
  run.applied = run.applied.filter((a) => !(a.seenMs > (T0 + 31) * 1000 && a.seenMs < (T0 + 41) * 1000));
  const v = checkSoak(run);
  assert.ok(
    v.breaches.some((b) => b.invariant === "live" && /after daemon-kill A ended/.test(b.what)),
    JSON.stringify(v.breaches),
  );
});

test("'live' waits for the end of an event still going on: a flood that ends while the port is unplugged", () => {
  // as in a run of seeds 20261206 and 1: the flood ends at 35 s, the port is unplugged from 34 to 39 s, lines come back at 41.2 s
  const run = cleanRun();
  run.events.push({ type: "flood", target: "g1", startMs: (T0 + 32) * 1000, endMs: (T0 + 35) * 1000 });
  run.events.push({ type: "unplug-plug", target: "g1", startMs: (T0 + 34) * 1000, endMs: (T0 + 39) * 1000 });
  run.applied = run.applied.filter((a) => !(a.seenMs > (T0 + 35) * 1000 && a.seenMs < (T0 + 41) * 1000));
  assert.deepEqual(
    checkSoak(run).breaches.filter((b) => b.invariant === "live"),
    [],
  );
  // no line until 45 s: 6 s after the port came back
  run.applied = run.applied.filter((a) => !(a.seenMs > (T0 + 35) * 1000 && a.seenMs < (T0 + 45) * 1000));
  const live = checkSoak(run).breaches.filter((b) => b.invariant === "live");
  const plugged = new Date((T0 + 39) * 1000).toISOString();
  assert.ok(
    live.some((b) => b.what.endsWith(`after flood g1 ended (and after what followed it, until ${plugged})`)),
    JSON.stringify(live),
  );
  assert.ok(
    live.some((b) => /after unplug-plug g1 ended$/.test(b.what)),
    JSON.stringify(live),
  );
});

test("'bounded' judges each third's typical level: descriptors that come and go do not break it, descriptors that pile up do", () => {
  // as in a 60-minute run's sixth minute: a VM migrated in and a restarted daemon's reconnects, 10 more for a while
  const run = cleanRun();
  for (let k = 0; k < 12; k++) run.daemons.push({ host: "A", ms: (T0 + 5 * k + 2) * 1000, rssBytes: 60 * 2 ** 20, fds: 20 });
  run.daemons.find((d) => d.ms === (T0 + 52) * 1000)!.fds = 30;
  assert.deepEqual(
    checkSoak(run).breaches.filter((b) => b.invariant === "bounded"),
    [],
  );
  [...run.daemons].sort((a, b) => a.ms - b.ms).forEach((d, k) => (d.fds = 20 + 2 * k));
  assert.ok(
    checkSoak(run).breaches.some((b) => b.invariant === "bounded" && /open descriptors \(median/.test(b.what)),
    "two descriptors more every sample (every 2.5 s)",
  );
});

test("a daemon whose RSS keeps growing after warm-up breaks 'bounded'", () => {
  const run = cleanRun();
  run.daemons.forEach((d, k) => (d.rssBytes = (60 + 8 * k) * 2 ** 20));
  const v = checkSoak(run);
  assert.ok(
    v.breaches.some((b) => b.invariant === "bounded" && /RSS/.test(b.what)),
    JSON.stringify(v.breaches),
  );
});

test("a reader inside a span of dropped lines (a suspended guest) is judged against the highest power of the whole span, which the tree spreads evenly", () => {
  // 20 W, but 40 W over (20, 21] and 2 W over (21, 27]; lines 21 to 29 never reach the guest (it was suspended): it applies
  // 30 after 20, and its tree spreads their 100 J over 10 s (10 W), its frames standing for those host times.
  const power = (s: number): number => (s === 21 ? 2 * W : s >= 22 && s <= 27 ? 0.1 * W : W);
  const run = emptyRun((T0 + 60) * 1000);
  const total = [0];
  for (let s = 1; s <= 40; s++) total.push(total[s - 1]! + power(s));
  for (let s = 1; s <= 40; s++) {
    run.lines.push({ host: "A", vm: "g1", epoch: "e1", seq: s, tS: T0 + s, stepS: 1, uj: total[s]! });
    if (s > 20 && s < 30) continue;
    run.applied.push({ vm: "g1", boot: 1, epoch: "e1", seq: s, tS: T0 + s, counterUj: total[s]!, seenMs: (T0 + s) * 1000 + 200 });
  }
  const shown = (t: number): number => {
    const [lo, hi] = t > 20 && t < 30 ? [20, 30] : [Math.floor(t), Math.ceil(t)];
    return lo === hi ? total[lo]! : total[lo]! + ((t - lo) / (hi - lo)) * (total[hi]! - total[lo]!);
  };
  for (let t = 3; t < 40; t += 2.4) run.reader.push({ vm: "g1", boot: 1, upS: t, uj: Math.round(shown(t)), seenMs: (T0 + t + 1) * 1000, shownS: T0 + t });
  const v = checkSoak(run);
  assert.deepEqual(v.breaches, []);
  assert.ok(v.worstReaderRatio < 1.01, String(v.worstReaderRatio));
  // above the span's highest (40 W) is a spike all the same
  const inside = run.reader.findIndex((r) => r.shownS! > T0 + 23);
  for (const r of run.reader.slice(inside)) r.uj += 120e6;
  assert.ok(checkSoak(run).breaches.some((b) => b.invariant === "no spike" && /reader read/.test(b.what)));
});
