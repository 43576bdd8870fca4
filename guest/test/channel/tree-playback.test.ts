/**
 * The channel's tree played out (16 frames a step): a receiver killed while
 * its tree ran late leaves the rest in its state file, and the next one
 * plays it on step by step as it came, not as one even span (the soak found
 * a tree that showed a later minute's 8 W over an earlier minute's 1.5 W).
 * Lines that come at once (the port reopened) are played line by line too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, encodeMessage } from "@scaph/common";
import { waitFor } from "@scaph/test-support";
import { ChannelReceiver } from "../../src/channel/receiver.js";

const T = 1_795_900_000;
const line = (seq: number, uj: number): string =>
  encodeMessage({
    v: 1,
    epoch: "e",
    seq,
    t: T + seq,
    t0: T,
    step_s: 1,
    zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: uj, max_energy_range_uj: 262143328850 }],
  });

/** What the tree shows: its value, and the host time it says it stands for (both of one file, read through one descriptor). */
async function shown(tree: string): Promise<{ uj: number; tS: number }> {
  const fh = await open(join(tree, "intel-rapl:0", "energy_uj"));
  try {
    return { uj: Number((await fh.readFile("utf8")).trim()), tS: (await fh.stat()).mtimeMs / 1000 };
  } finally {
    await fh.close();
  }
}

test("a receiver that starts on a tree that ran late plays on what was left, step by step: the power it shows at each host time is that time's", async () => {
  const tree = await mkdtemp(join(tmpdir(), "scaph-playback-"));
  const clock = { now: 0 };
  try {
    const log = createLogger({ level: "error" });
    // 1 W for 10 steps, then 10 W: the lines come at once (the tree runs 10 s late behind them)
    const power = (k: number): number => (k <= 10 ? 1e6 : 10e6);
    const a = new ChannelReceiver({ tree, port: () => null, log, substeps: 16, nowS: () => clock.now });
    let uj = 0;
    for (let k = 1; k <= 20; k++) {
      uj += power(k);
      a.receive(line(k, uj));
    }
    a.stop(); // killed: the tree shows the first line, the rest is in the state
    const first = await shown(tree);
    assert.ok(first.uj < 2e6, `the tree shows the start of the first step: ${first.uj}`);
    const b = new ChannelReceiver({ tree, port: () => null, log, substeps: 16, nowS: () => clock.now });
    const seen = [first, ...(await follow(tree, clock, 0.25, 22, uj))];
    b.stop();
    assert.equal(seen.at(-1)?.uj, uj, "all of it shown in the end");
    for (let i = 1; i < seen.length; i++) {
      const [p, q] = [seen[i - 1]!, seen[i]!];
      if (q.tS <= p.tS) continue;
      const w = (q.uj - p.uj) / (q.tS - p.tS);
      const hi = Math.max(power(Math.floor(p.tS - T) + 1), power(Math.ceil(q.tS - T)));
      assert.ok(
        w <= 1.05 * hi,
        `from host time ${(p.tS - T).toFixed(2)} to ${(q.tS - T).toFixed(2)} the tree showed ${(w / 1e6).toFixed(2)} W, the host ${hi / 1e6} W at most`,
      );
    }
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
});

/**
 * Follows the tree on the fake clock from `from` to `to` (s), a quarter of a second at a time (the frames are written
 * by a timer of real time, at the fake clock's moment: each moment waits for the tree to show it): what it showed.
 */
async function follow(tree: string, clock: { now: number }, from: number, to: number, last: number): Promise<{ uj: number; tS: number; atS?: number }[]> {
  const seen: { uj: number; tS: number; atS?: number }[] = [await shown(tree)];
  for (clock.now = from; clock.now <= to; clock.now += 0.25) {
    // a moment that brings no new frame (nothing left to play) is passed after 2 s
    const s = await waitFor(
      `the tree to show the fake clock's ${clock.now} s`,
      async () => {
        const x = await shown(tree);
        return x.tS > seen.at(-1)!.tS || x.uj === last ? x : null;
      },
      2000,
      10,
    ).catch(() => null);
    if (s) seen.push({ ...s, atS: clock.now });
  }
  return seen;
}

/**
 * Each span of more than 0.2 s between two frames the tree showed holds at
 * most 5 % above the highest power the host drew around it (`power` of
 * host time, from T, in µW); at least `minSpans` spans checked.
 */
function assertNoSpike(seen: readonly { uj: number; tS: number }[], power: (t: number) => number, minSpans: number): void {
  let checked = 0;
  for (let i = 1; i < seen.length; i++) {
    const [p, q] = [seen[i - 1]!, seen[i]!];
    if (q.tS <= p.tS + 0.2) continue;
    const w = (q.uj - p.uj) / (q.tS - p.tS);
    let hi = 0;
    for (let t = p.tS - T - 1; t <= q.tS - T + 1; t += 0.05) hi = Math.max(hi, power(t));
    checked++;
    assert.ok(
      w <= 1.05 * hi,
      `from host time ${(p.tS - T).toFixed(2)} to ${(q.tS - T).toFixed(2)} the tree showed ${(w / 1e6).toFixed(2)} W, the host ${hi / 1e6} W at most`,
    );
  }
  assert.ok(checked >= minSpans, `${checked} spans checked`);
}

test("lines that come at once when the port reopens (a daemon restarted meanwhile) are played line by line: each host time shows its own power, not the batch's mean", async () => {
  // As in a soak run (seeds 20261206, 1956593789): the agent was stopped while a daemon restarted; when it came back
  // the port gave 13 lines at once, the new epoch's first covering 1.2 s at 6 W, then 6 W, then 12 W. Played as one
  // span, the tree showed their mean (10.3 W) at host times where the host attributed 6 W (0 W in the daemon's gap).
  const tree = await mkdtemp(join(tmpdir(), "scaph-playback-"));
  const clock = { now: 0 };
  try {
    const r = new ChannelReceiver({ tree, port: () => null, log: createLogger({ level: "error" }), substeps: 16, nowS: () => clock.now });
    const msg = (epoch: string, seq: number, t: number, t0: number, uj: number): string =>
      encodeMessage({
        v: 1,
        epoch,
        seq,
        t: T + t,
        t0: T + t0,
        step_s: 1,
        zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: Math.round(uj), max_energy_range_uj: 262143328850 }],
      });
    // epoch a: 5 W for 10 s, a line a second as it comes
    for (let k = 1; k <= 10; k++) {
      clock.now = k;
      r.receive(msg("a", k, k, 0, 5e6 * k));
      await follow(tree, clock, k + 0.25, k + 0.75, 5e6 * k);
    }
    // the daemon is gone from 10 s to 12.5 s; epoch b from 12.5 s: 6 W until 16 s, 12 W after; its lines come at once at 25.2 s
    const power = (t: number): number => (t <= 10 ? 5e6 : t <= 12.5 ? 0 : t <= 16 ? 6e6 : 12e6);
    const b = (t: number): number => (Math.min(t, 16) - 12.5) * 6e6 + Math.max(0, t - 16) * 12e6;
    let batch = msg("b", 1, 13.7, 12.5, b(13.7));
    for (let k = 2; k <= 12; k++) batch += msg("b", k, 12.7 + k, 12.5, b(12.7 + k));
    clock.now = 11;
    const seen = await follow(tree, clock, 11, 11, 50e6);
    r.receive(batch);
    const total = 50e6 + b(24.7);
    seen.push(...(await follow(tree, clock, 11.25, 30, total)));
    r.stop();
    assert.equal(seen.at(-1)?.uj, total, "all of it shown in the end");
    assertNoSpike(seen, power, 20);
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
});

test("a VM restored from a save: the lines its host leads with (the save's, its absence, its step) count every µJ, and the absence passes at once", async () => {
  // The guest applied epoch a's lines to 5 s (2 W); `virsh save` paused it, and the lines of the save (8 W, to 7 s) died in
  // the old qemu. It was away until 20 s. Restored, the host continues epoch a: its last line made before it went away
  // (7 s), the same counters at 20 s (its absence: no energy), then its first step back (to 21 s, 2 W).
  const tree = await mkdtemp(join(tmpdir(), "scaph-playback-"));
  const clock = { now: 0 };
  try {
    const r = new ChannelReceiver({ tree, port: () => null, log: createLogger({ level: "error" }), substeps: 16, nowS: () => clock.now });
    const msg = (seq: number, t: number, uj: number): string =>
      encodeMessage({
        v: 1,
        epoch: "a",
        seq,
        t: T + t,
        t0: T,
        step_s: 1,
        zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: uj, max_energy_range_uj: 262143328850 }],
      });
    for (let k = 1; k <= 5; k++) {
      clock.now = k;
      r.receive(msg(k, k, 2e6 * k));
      await follow(tree, clock, k + 0.25, k + 0.75, 2e6 * k);
    }
    const power = (t: number): number => (t <= 5 ? 2e6 : t <= 7 ? 8e6 : t <= 20 ? 0 : 2e6);
    const total = 10e6 + 16e6 + 2e6;
    // the guest's clock stood still while it was saved: its lines come at 6 s of it
    clock.now = 6;
    const arrivedS = clock.now;
    r.receive(msg(7, 7, 26e6) + msg(8, 20, 26e6) + msg(9, 21, total));
    const seen = await follow(tree, clock, 6, 16, total);
    r.stop();
    assert.equal(seen.at(-1)?.uj, total, "every µJ the host attributed since the epoch began, the save's included");
    // 2 s of the save's energy and 1 s of its step are played over as long; the 13 s it was away pass in a frame
    const reached = seen.find((x) => x.uj === total)!;
    assert.ok(reached.tS >= T + 21 - 1e-6, `the tree's last frame stands for host time 21 s: ${(reached.tS - T).toFixed(2)}`);
    const tookS = (reached.atS ?? Infinity) - arrivedS;
    assert.ok(tookS <= 3.5, `the tree showed it all ${tookS} s (of the guest's clock) after the lines came, not 16 s late`);
    assertNoSpike(seen, power, 5);
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
});

test("a tree 90 steps late keeps every commit it has not shown in its state (not the last 60), so the next receiver plays each at its own time; a tree that keeps up keeps few", async () => {
  // The soak's 60-minute run: its guest's tree ran 92 s late (saves, suspends), its agent was killed, and the next one
  // found only the last 60 commits: it spread the 32 s before them evenly, and a reader read 4.25 W where 2.4 W was drawn.
  const tree = await mkdtemp(join(tmpdir(), "scaph-playback-"));
  const clock = { now: 0 };
  try {
    const log = createLogger({ level: "error" });
    const state = async (): Promise<{ recent: { t: number }[] }> =>
      JSON.parse(await readFile(join(tree, ".scaph-channel.json"), "utf8")) as { recent: { t: number }[] };
    const a = new ChannelReceiver({ tree, port: () => null, log, substeps: 16, nowS: () => clock.now });
    let uj = 0;
    for (let k = 1; k <= 90; k++) {
      uj += (k <= 45 ? 1 : 10) * 1e6;
      a.receive(line(k, uj));
    }
    const kept = (await state()).recent.map((r) => Math.round(r.t - T));
    // (a new tree shows its first line at once: the 89 after it are still to be shown)
    assert.equal(kept.length, 89, `commits kept: ${kept.length}`);
    assert.deepEqual(kept.slice(0, 2), [2, 3], "from the first the tree has not shown");
    a.stop();
    // a receiver whose tree keeps up: each line shown within its step, one or two commits kept
    const b = new ChannelReceiver({ tree: `${tree}-b`, port: () => null, log, substeps: 16, nowS: () => clock.now });
    for (let k = 1; k <= 10; k++) {
      clock.now = k;
      b.receive(line(k, k * 1e6));
      await follow(`${tree}-b`, clock, k + 0.25, k + 1, k * 1e6);
    }
    b.stop();
    const few = (JSON.parse(await readFile(join(`${tree}-b`, ".scaph-channel.json"), "utf8")) as { recent: unknown[] }).recent.length;
    assert.ok(few <= 2, `a tree that keeps up keeps ${few} commits`);
  } finally {
    await rm(tree, { recursive: true, force: true });
    await rm(`${tree}-b`, { recursive: true, force: true });
  }
});
