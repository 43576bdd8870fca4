/**
 * The channel's tree played out (16 frames a step): a receiver killed while
 * its tree ran late leaves the rest in its state file, and the next one
 * plays it on step by step as it came, not as one even span (the soak found
 * a tree that showed a later minute's 8 W over an earlier minute's 1.5 W).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, encodeMessage } from "@scaph/common";
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
  let now = 0;
  try {
    const log = createLogger({ level: "error" });
    // 1 W for 10 steps, then 10 W: the lines come at once (the tree runs 10 s late behind them)
    const power = (k: number): number => (k <= 10 ? 1e6 : 10e6);
    const a = new ChannelReceiver({ tree, port: () => null, log, substeps: 16, nowS: () => now });
    let uj = 0;
    for (let k = 1; k <= 20; k++) {
      uj += power(k);
      a.receive(line(k, uj));
    }
    a.stop(); // killed: the tree shows the first line, the rest is in the state
    const first = await shown(tree);
    assert.ok(first.uj < 2e6, `the tree shows the start of the first step: ${first.uj}`);
    const b = new ChannelReceiver({ tree, port: () => null, log, substeps: 16, nowS: () => now });
    const seen: { uj: number; tS: number }[] = [first];
    for (now = 0.25; now <= 22; now += 0.25) {
      // (a quarter of a second at a time: a longer gap between frames is a stall, which the player puts its playback off by)
      // the frames are written by a timer of real time, at the fake clock's moment: wait for the tree to show it
      for (let i = 0; i < 200; i++) {
        const s = await shown(tree);
        if (s.tS > seen.at(-1)!.tS || s.uj === uj) {
          seen.push(s);
          break;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
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
