import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeSync } from "node:fs";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, encodeMessage } from "@scaph/common";
import type { ChannelMessage } from "@scaph/common";
import { ChannelReceiver } from "../../src/channel/receiver.js";
import { ChannelSensor } from "../../src/channel/sensor.js";

const MAX = 262143328850;
const DRAM_MAX = 65712999613;
const msg = (epoch: string, t: number, pkg: number, dram: number): ChannelMessage => ({
  v: 1,
  epoch,
  seq: Math.round(t),
  t,
  step_s: 2,
  zones: [
    { zone: "intel-rapl:0", name: "package-0", energy_uj: pkg, max_energy_range_uj: MAX },
    { zone: "intel-rapl:0:0", name: "dram", energy_uj: dram, max_energy_range_uj: DRAM_MAX },
  ],
});

async function withTree(f: (tree: string, lines: string[]) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "scaph-rx-"));
  const lines: string[] = [];
  try {
    await f(dir, lines);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const read = async (tree: string, zone: string, file = "energy_uj"): Promise<string> => (await readFile(join(tree, zone, file), "utf8")).trim();
const logTo = (lines: string[]) => createLogger({ level: "debug", write: (l) => lines.push(l) });

test("counters: the same epoch adds the gain, a new epoch its first value; wraps; a host counter going back adds nothing", () =>
  withTree(async (tree, lines) => {
    const r = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    r.apply(msg("aaaa", 100, 5_000_000, 1_000_000));
    assert.equal(await read(tree, "intel-rapl:0"), "5000000", "no state yet: the epoch's first value");
    assert.equal(await read(tree, "intel-rapl:0:0", "name"), "dram");
    assert.equal(await read(tree, "intel-rapl:0", "max_energy_range_uj"), String(MAX));
    r.apply(msg("aaaa", 102, 7_000_000, 1_500_000));
    assert.equal(await read(tree, "intel-rapl:0"), "7000000");
    r.apply(msg("aaaa", 101, 9_999_999, 9_999_999)); // an old line: ignored
    assert.equal(await read(tree, "intel-rapl:0"), "7000000");
    // The daemon restarted: a new epoch counting from 0; its first value is added.
    r.apply(msg("bbbb", 110, 300_000, 100_000));
    assert.equal(await read(tree, "intel-rapl:0"), "7300000");
    assert.equal(await read(tree, "intel-rapl:0:0"), "1600000");
    // The host counter wraps at its max: the gain across the wrap.
    r.apply(msg("bbbb", 112, MAX - 1000, 200_000));
    r.apply(msg("bbbb", 114, 4000, 300_000));
    assert.equal(Number(await read(tree, "intel-rapl:0")), (7_300_000 + (MAX - 1000 - 300_000) + 5000) % MAX);
    // Going back by more than half the range in one epoch: a reset, no spike.
    const before = Number(await read(tree, "intel-rapl:0:0"));
    r.apply(msg("bbbb", 116, 5000, 100));
    assert.equal(Number(await read(tree, "intel-rapl:0:0")), before);
    assert.ok(lines.some((l) => l.includes("went back from 300000 to 100 µJ")));
  }));

test("an agent restart continues from its state file: no double count, no loss", () =>
  withTree(async (tree, lines) => {
    const a = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    a.apply(msg("cccc", 200, 10_000_000, 2_000_000));
    a.apply(msg("cccc", 202, 12_000_000, 2_500_000));
    // A new agent: the lines it missed are in the next line's total.
    const b = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    assert.equal(b.latest?.t, 202);
    b.apply(msg("cccc", 210, 20_000_000, 4_000_000));
    assert.equal(await read(tree, "intel-rapl:0"), "20000000");
    assert.equal(await read(tree, "intel-rapl:0:0"), "4000000");
    assert.ok(lines.some((l) => l.includes("continuing from") && l.includes("epoch cccc")));
  }));

test("the sensor times readings by the host's clock, and skips a step with no new line", () =>
  withTree(async (tree, lines) => {
    const r = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    const s = new ChannelSensor(r, tree);
    assert.throws(() => s.read(), /no line from the host yet/);
    r.apply(msg("dddd", 300, 1_000_000, 0));
    const a = s.read();
    assert.equal(a.timestampS, 300);
    assert.throws(() => s.read(), (e: unknown) => e instanceof Error && /no new line/.test(e.message) && (e as { quiet?: boolean }).quiet === true);
    r.apply(msg("dddd", 302.5, 6_000_000, 0));
    const b = s.read();
    assert.equal(Number(b.monotonicNs - a.monotonicNs) / 1e9, 2.5, "the host's interval, whatever the guest's");
    assert.deepEqual(b.readings.map((x) => [x.zone.id, x.zone.kind, x.energyUj]), [["intel-rapl:0", "package", 6_000_000], ["intel-rapl:0:0", "subdomain", 0]]);
  }));

test("lines from a port (a FIFO here): garbage, overlong and bad lines are skipped and counted; good ones applied", () =>
  withTree(async (tree, lines) => {
    const fifo = join(tree, "..", `${tree.split("/").pop()}.fifo`);
    execFileSync("mkfifo", [fifo]);
    const r = new ChannelReceiver({ tree: join(tree, "t"), port: () => fifo, log: logTo(lines), retryMs: 50 });
    const run = r.run();
    try {
      const fh = await open(fifo, "w");
      const fd = fh.fd;
      writeSync(fd, "garbage\n" + "x".repeat(10_000) + "\n" + JSON.stringify({ v: 1 }) + "\n");
      writeSync(fd, encodeMessage(msg("eeee", 400, 42, 7)));
      writeSync(fd, encodeMessage(msg("eeee", 402, 50, 9)).slice(0, 20)); // half a line, then the rest
      writeSync(fd, encodeMessage(msg("eeee", 402, 50, 9)).slice(20));
      await fh.close();
      const end = Date.now() + 5000;
      while (r.applied < 2 && Date.now() < end) await new Promise((x) => setTimeout(x, 20));
      assert.equal(r.applied, 2);
      assert.equal(await read(join(tree, "t"), "intel-rapl:0"), "50");
      assert.ok(lines.some((l) => /3 bad line\(s\) skipped|bad line\(s\) skipped/.test(l)), lines.join("\n"));
    } finally {
      r.stop();
      await run;
      await rm(fifo, { force: true });
    }
  }));
