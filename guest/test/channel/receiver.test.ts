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

async function withTree(f: (tree: string, lines: string[]) => Promise<void> | void): Promise<void> {
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
    r.receive(encodeMessage(msg("aaaa", 100, 5_000_000, 1_000_000)));
    assert.equal(await read(tree, "intel-rapl:0"), "5000000", "no state yet: the epoch's first value");
    assert.equal(await read(tree, "intel-rapl:0:0", "name"), "dram");
    assert.equal(await read(tree, "intel-rapl:0", "max_energy_range_uj"), String(MAX));
    r.receive(encodeMessage(msg("aaaa", 102, 7_000_000, 1_500_000)));
    assert.equal(await read(tree, "intel-rapl:0"), "7000000");
    r.receive(encodeMessage(msg("aaaa", 101, 9_999_999, 9_999_999))); // an old line: ignored
    assert.equal(await read(tree, "intel-rapl:0"), "7000000");
    // The daemon restarted: a new epoch counting from 0; its first value is added.
    r.receive(encodeMessage(msg("bbbb", 110, 300_000, 100_000)));
    assert.equal(await read(tree, "intel-rapl:0"), "7300000");
    assert.equal(await read(tree, "intel-rapl:0:0"), "1600000");
    // The host counter wraps at its max: the gain across the wrap. (An epoch that began a day ago, whose
    // counter stands near its max: within MAX_ZONE_WATTS over that day.)
    r.receive(encodeMessage({ ...msg("cccc", 112, MAX - 1000, 200_000), t0: 112 - 86_400 }));
    r.receive(encodeMessage(msg("cccc", 114, 4000, 300_000)));
    assert.equal(Number(await read(tree, "intel-rapl:0")), (7_300_000 + (MAX - 1000) + 5000) % MAX);
    // Going back by more than half the range in one epoch: a reset, no spike.
    const before = Number(await read(tree, "intel-rapl:0:0"));
    r.receive(encodeMessage(msg("cccc", 116, 5000, 100)));
    assert.equal(Number(await read(tree, "intel-rapl:0:0")), before);
    assert.ok(lines.some((l) => l.includes("went back from 300000 to 100 µJ")));
  }));

test("an agent restart continues from its state file: no double count, no loss", () =>
  withTree(async (tree, lines) => {
    const a = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    a.receive(encodeMessage(msg("cccc", 200, 10_000_000, 2_000_000)));
    a.receive(encodeMessage(msg("cccc", 202, 12_000_000, 2_500_000)));
    // A new agent: the lines it missed are in the next line's total.
    const b = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    assert.equal(b.latest?.t, 202);
    b.receive(encodeMessage(msg("cccc", 210, 20_000_000, 4_000_000)));
    assert.equal(await read(tree, "intel-rapl:0"), "20000000");
    assert.equal(await read(tree, "intel-rapl:0:0"), "4000000");
    assert.ok(lines.some((l) => l.includes("continuing from") && l.includes("epoch cccc")));
  }));

test("the sensor times readings by the host's clock, and skips a step with no new line", () =>
  withTree((tree, lines) => {
    const r = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    const s = new ChannelSensor(r, tree);
    assert.throws(() => s.read(), /no line from the host yet/);
    r.receive(encodeMessage(msg("dddd", 300, 1_000_000, 0)));
    const a = s.read();
    assert.equal(a.timestampS, 300);
    assert.throws(
      () => s.read(),
      (e: unknown) => e instanceof Error && /no new line/.test(e.message) && (e as { quiet?: boolean }).quiet === true,
    );
    r.receive(encodeMessage(msg("dddd", 302.5, 6_000_000, 0)));
    const b = s.read();
    assert.equal(Number(b.monotonicNs - a.monotonicNs) / 1e9, 2.5, "the host's interval, whatever the guest's");
    assert.deepEqual(
      b.readings.map((x) => [x.zone.id, x.zone.kind, x.energyUj]),
      [
        ["intel-rapl:0", "package", 6_000_000],
        ["intel-rapl:0:0", "subdomain", 0],
      ],
    );
  }));

test("lines from a port (a FIFO here): garbage, overlong and bad lines are skipped and counted; good ones applied", () =>
  withTree(async (tree, lines) => {
    const fifo = join(tree, "..", `${tree.split("/").pop()}.fifo`);
    execFileSync("mkfifo", [fifo]);
    const r = new ChannelReceiver({ tree: join(tree, "t"), port: () => fifo, log: logTo(lines), retryMs: 50 });
    // the two good lines committed: waited on through onApplied, not by polling
    const committed = new Promise<void>((resolve) => r.onApplied(() => (r.latest?.zones[0]?.value === 50 ? resolve() : undefined)));
    const run = r.run();
    try {
      const fh = await open(fifo, "w");
      const fd = fh.fd;
      writeSync(fd, "garbage\n" + "x".repeat(10_000) + "\n" + JSON.stringify({ v: 1 }) + "\n");
      writeSync(fd, encodeMessage(msg("eeee", 400, 42, 7)));
      writeSync(fd, encodeMessage(msg("eeee", 402, 50, 9)).slice(0, 20)); // half a line, then the rest
      writeSync(fd, encodeMessage(msg("eeee", 402, 50, 9)).slice(20));
      await fh.close();
      await committed;
      assert.equal(await read(join(tree, "t"), "intel-rapl:0"), "50");
      assert.ok(
        lines.some((l) => /3 bad line\(s\) skipped|bad line\(s\) skipped/.test(l)),
        lines.join("\n"),
      );
    } finally {
      r.stop();
      await run;
      await rm(fifo, { force: true });
    }
  }));

/** A line of `epoch` with the package at `pkgJ` joules (no dram), at host time t (s), its epoch begun at t0. */
const line = (epoch: string, seq: number, t: number, pkgJ: number, t0?: number): ChannelMessage => ({
  v: 1,
  epoch,
  seq,
  t,
  ...(t0 !== undefined ? { t0 } : {}),
  step_s: 1,
  zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: Math.round(pkgJ * 1e6), max_energy_range_uj: MAX }],
});

/** Applies each line, then reads the sensor: the power (W) over each reading's interval, and the tree's total (J). */
function powers(r: ChannelReceiver, s: ChannelSensor, lines: readonly ChannelMessage[]): { watts: number[]; totalJ: number } {
  let prev = s.read();
  const watts: number[] = [];
  for (const l of lines) {
    if (r.receive(encodeMessage(l)) === 0) continue; // an old or repeated line: nothing new to read
    const cur = s.read();
    const dtS = Number(cur.monotonicNs - prev.monotonicNs) / 1e9;
    assert.ok(dtS > 0, `an interval of ${dtS} s`);
    watts.push(((cur.readings[0]?.energyUj ?? 0) - (prev.readings[0]?.energyUj ?? 0)) / 1e6 / dtS);
    prev = cur;
  }
  return { watts, totalJ: (prev.readings[0]?.energyUj ?? 0) / 1e6 };
}

test("a live migration's hand-off: two epochs whose lines overlap, on hosts whose clocks differ, each count once, and no interval or power goes wrong", () =>
  withTree((tree, lines) => {
    const r = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    const s = new ChannelSensor(r, tree);
    // The source host sends 10 W since t0 = 99: 10 J at t = 100.
    r.receive(encodeMessage(line("src", 1, 100, 10, 99)));
    // Lines of the source and of the destination (whose clock is 2.5 s behind) interleave; both send 10 W.
    const { watts, totalJ } = powers(r, s, [
      line("src", 2, 101, 20),
      line("dst", 1, 99, 5, 98.5), // its first line: 5 J over the half second since its epoch began
      line("src", 3, 102, 30),
      line("dst", 2, 100, 15),
      line("src", 3, 102, 30), // repeated
      line("dst", 3, 101, 25),
    ]);
    // Every joule sent counts once: the source's 30 J and the destination's 25 J.
    assert.equal(totalJ, 55);
    for (const w of watts) assert.ok(w >= 0 && w <= 10 + 1e-9, `a step read ${w} W where each host sent 10 W`);
  }));

test("a new epoch whose first value covers several seconds reads as the host's power over them, not as one step's", () =>
  withTree((tree, lines) => {
    const r = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    const s = new ChannelSensor(r, tree);
    r.receive(encodeMessage(line("a", 1, 1000, 100, 990)));
    // A new epoch (the VM migrated in) whose first line carries 70 J counted over 7 s: 10 W, not 70 W.
    const { watts, totalJ } = powers(r, s, [line("b", 1, 2000, 70, 1993), line("b", 2, 2001, 80)]);
    assert.deepEqual(
      watts.map((w) => Math.round(w * 1000) / 1000),
      [10, 10],
    );
    assert.equal(totalJ, 180);
  }));

test("a host clock that steps back within an epoch: lines still apply in seq order, over intervals > 0, nothing lost", () =>
  withTree((tree, lines) => {
    const r = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    const s = new ChannelSensor(r, tree);
    r.receive(encodeMessage(line("e", 1, 5000, 10, 4999)));
    const { watts, totalJ } = powers(r, s, [line("e", 2, 5001, 20), line("e", 3, 4000, 30), line("e", 4, 4001, 40), line("e", 2, 5001, 99)]);
    assert.equal(totalJ, 40, "seq orders the lines: the stale seq 2 adds nothing");
    for (const w of watts.slice(0, 3)) assert.ok(w > 0 && w <= 10 + 1e-9, `${w} W`);
  }));

test("the epochs and the power clock survive an agent restart; a state file of the older format is read", () =>
  withTree(async (tree, lines) => {
    const a = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    a.receive(encodeMessage(line("src", 1, 100, 10, 99)));
    a.receive(encodeMessage(line("dst", 1, 99, 5, 98.5)));
    const b = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    assert.equal(b.latest?.clockS, a.latest?.clockS);
    b.receive(encodeMessage(line("src", 2, 101, 20))); // the source's next line: +10 J, not its whole counter again
    assert.equal(await read(tree, "intel-rapl:0"), String(25_000_000));
    const { writeFile } = await import("node:fs/promises");
    // (the tree of this state: a tree ahead of it would be continued from instead)
    await rm(join(tree, "intel-rapl:0"), { recursive: true });
    await writeFile(
      join(tree, ".scaph-channel.json"),
      JSON.stringify({
        epoch: "old",
        t: 50,
        host: { "intel-rapl:0": 3_000_000 },
        zones: { "intel-rapl:0": { zone: "intel-rapl:0", name: "package-0", value: 7_000_000, max: MAX } },
      }),
    );
    const c = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    c.receive(encodeMessage(line("old", 5, 51, 4)));
    assert.equal(await read(tree, "intel-rapl:0"), String(8_000_000), "the old epoch's counter goes on from its last value");
  }));

test("a host whose max_energy_range_uj shrinks cannot send the guest's counter backwards", () =>
  withTree(async (tree, lines) => {
    const r = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    r.receive(encodeMessage(line("m", 1, 10, 5000, 9)));
    const small = line("m", 2, 11, 0.5);
    small.zones[0]!.max_energy_range_uj = 1_000_000;
    small.zones[0]!.energy_uj = 500_000;
    r.receive(encodeMessage(small));
    assert.ok(Number(await read(tree, "intel-rapl:0")) >= 5_000_000_000);
    assert.equal(await read(tree, "intel-rapl:0", "max_energy_range_uj"), String(MAX));
  }));

test("a host naming 16 new zones at every line gets at most MAX_TREE_ZONES in the tree; the state stays readable after a restart", () =>
  withTree(async (tree, lines) => {
    const { readdir } = await import("node:fs/promises");
    const { MAX_TREE_ZONES } = await import("../../src/channel/state-file.js");
    const r = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    for (let n = 0; n < 10; n++) {
      r.receive(
        encodeMessage({
          v: 1,
          epoch: "many",
          seq: n + 1,
          t: 100 + n,
          step_s: 1,
          zones: Array.from({ length: 16 }, (_, i) => ({ zone: `intel-rapl:${n}:${i}`, name: "dram", energy_uj: 1000 * (n + 1), max_energy_range_uj: MAX })),
        }),
      );
    }
    const dirs = (await readdir(tree)).filter((d) => d.startsWith("intel-rapl"));
    assert.equal(dirs.length, MAX_TREE_ZONES);
    assert.ok(
      lines.some((l) => l.includes("bad line(s) skipped")),
      lines.join("\n"),
    );
    const again = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    assert.equal(again.latest?.zones.length, MAX_TREE_ZONES, "the state file was read back: counters go on after a restart");
  }));

test("a counter that jumps beyond any host's power within a line is cut to MAX_ZONE_WATTS over the time it covers, and said once", () =>
  withTree(async (tree, lines) => {
    const { MAX_ZONE_WATTS } = await import("../../src/channel/counters.js");
    const r = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    r.receive(encodeMessage(line("j", 1, 10, 100, 8))); // 100 J over 2 s: applied as it is
    assert.equal(await read(tree, "intel-rapl:0"), "100000000");
    r.receive(encodeMessage(line("j", 2, 11, 200_100))); // +200 kJ in 1 s: 200 kW
    assert.equal(Number(await read(tree, "intel-rapl:0")), 100_000_000 + MAX_ZONE_WATTS * 1e6, "cut to MAX_ZONE_WATTS for 1 s");
    r.receive(encodeMessage(line("j", 3, 12, 200_150))); // +50 J in 1 s: applied as it is
    assert.equal(Number(await read(tree, "intel-rapl:0")), 100_000_000 + MAX_ZONE_WATTS * 1e6 + 50_000_000);
    r.receive(encodeMessage(line("k", 1, 13, 100_000))); // a new epoch whose first value is 100 kJ over its 1 s step
    assert.equal(Number(await read(tree, "intel-rapl:0")), 100_000_000 + 2 * MAX_ZONE_WATTS * 1e6 + 50_000_000);
    assert.equal(lines.filter((l) => l.includes(`above ${MAX_ZONE_WATTS} W`)).length, 1, "one WARN a minute:\n" + lines.join("\n"));
  }));

test("five hosts' epochs in rotation, each line +1 J: 15 J in all, never an epoch counted twice (hostile round 3, item 14)", () =>
  withTree(async (tree, lines) => {
    const r = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    const epochs = ["e1", "e2", "e3", "e4", "e5"];
    for (let round = 1; round <= 3; round++) {
      for (const [i, e] of epochs.entries()) r.receive(encodeMessage(line(e, round, 1000 + 10 * round + i, round, 999 + i)));
    }
    assert.equal(Number(await read(tree, "intel-rapl:0")), 15_000_000);
    // and after a restart of the agent, from its state file
    const again = new ChannelReceiver({ tree, port: () => null, log: logTo(lines) });
    for (const [i, e] of epochs.entries()) again.receive(encodeMessage(line(e, 4, 1100 + i, 4, 999 + i)));
    assert.equal(Number(await read(tree, "intel-rapl:0")), 20_000_000);
  }));
