/**
 * The channel receiver fed random well-formed lines (SCAPH_FUZZ_SEED=N
 * replays one run; by default fixed seeds, so CI runs the same lines): host
 * epochs that come, go and interleave, zones that appear, counters that jump,
 * wrap or go back, times that step back. Whatever comes, it never throws,
 * keeps at most MAX_TREE_ZONES zones, every value under its max, a power
 * clock that only goes forward, no gain above what a line could carry, and a
 * state a restart reads back as it was.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, encodeMessage, parseMessage } from "@scaph/common";
import type { ChannelMessage, ChannelZone } from "@scaph/common";
import { prng } from "@scaph/test-support";
import { ChannelReceiver } from "../../src/channel/receiver.js";
import { MAX_TREE_ZONES } from "../../src/channel/state-file.js";

const seeds = process.env.SCAPH_FUZZ_SEED ? [Number(process.env.SCAPH_FUZZ_SEED)] : [1, 2, 20261128];

function randomLine(r: () => number, epochs: string[], seq: Map<string, number>, t: { now: number }): ChannelMessage {
  const int = (n: number): number => Math.floor(r() * n);
  if (epochs.length === 0 || r() < 0.05) epochs.push(`e${int(1e9).toString(16)}`);
  const epoch = epochs[int(epochs.length)]!;
  const s = (seq.get(epoch) ?? 0) + (r() < 0.1 ? -int(3) : 1 + int(3)); // repeats and old lines too
  seq.set(epoch, Math.max(seq.get(epoch) ?? 0, s));
  t.now += r() < 0.1 ? -int(100) : r() * 3; // a clock that steps back now and then
  const max = r() < 0.1 ? 1 + int(1e6) : 262143328850;
  const zones: ChannelZone[] = [];
  const count = 1 + int(r() < 0.1 ? 16 : 4);
  for (let i = 0; i < count; i++) {
    const id = r() < 0.8 ? `intel-rapl:0${i === 0 ? "" : `:${i - 1}`}` : `intel-rapl:${int(64)}:${int(16)}`;
    if (zones.some((z) => z.zone === id)) continue;
    zones.push({ zone: id, name: i === 0 ? "package-0" : "dram", energy_uj: int(max), max_energy_range_uj: max });
  }
  return { v: 1, epoch, seq: Math.max(0, s), t: Math.max(1, t.now), ...(r() < 0.5 ? { t0: Math.max(1, t.now - r() * 5) } : {}), step_s: r() * 3, zones };
}

for (const seed of seeds) {
  test(`fuzz the channel receiver: 400 random lines (seed ${seed}) keep every invariant`, async (t) => {
    t.diagnostic(`seed ${seed} (SCAPH_FUZZ_SEED=${seed} replays it)`);
    const r = prng(seed);
    const tree = await mkdtemp(join(tmpdir(), "scaph-rx-fuzz-"));
    try {
      const log = createLogger({ level: "error" });
      let rx = new ChannelReceiver({ tree, port: () => null, log });
      const epochs: string[] = [];
      const seq = new Map<string, number>();
      const clock = { now: 1_700_000_000 };
      let lastClock = -1;
      for (let i = 0; i < 400; i++) {
        const m = randomLine(r, epochs, seq, clock);
        const checked = parseMessage(encodeMessage(m).trimEnd());
        if (!checked.ok) continue; // what the receiver would have refused before apply()
        const before = new Map((rx.latest?.zones ?? []).map((z) => [z.zone, z.value]));
        rx.receive(encodeMessage(checked.message));
        const latest = rx.latest;
        if (!latest) continue;
        assert.ok(latest.zones.length <= MAX_TREE_ZONES, `${latest.zones.length} zones`);
        for (const z of latest.zones) {
          assert.ok(Number.isSafeInteger(z.value) && z.value >= 0 && z.value < z.max, `${z.zone}: ${z.value} of ${z.max}`);
          // A line adds at most its own counter (a new epoch's first value) or half the host's range (a wrap).
          const line = checked.message.zones.find((x) => x.zone === z.zone);
          const was = before.get(z.zone);
          if (line && was !== undefined) {
            const gain = (z.value - was + z.max) % z.max;
            assert.ok(gain <= Math.max(line.energy_uj, line.max_energy_range_uj / 2), `${z.zone} gained ${gain} from a line of ${line.energy_uj}`);
          }
        }
        assert.ok(latest.clockS >= lastClock, `the power clock went back: ${lastClock} -> ${latest.clockS}`);
        lastClock = latest.clockS;
        if (i % 100 === 99) {
          // An agent restart reads back what it was.
          const again = new ChannelReceiver({ tree, port: () => null, log });
          assert.deepEqual(again.latest, rx.latest);
          rx = again;
        }
      }
      assert.ok(lastClock > 0, "lines were applied");
    } finally {
      await rm(tree, { recursive: true, force: true });
    }
  });
}
