import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cpuShares, splitEnergy } from "../../src/index.js";
import { fixtureRig, knownHost } from "@scaph/test-support";

test("cpuShares: clamped to [0, 1], normalised when the sum exceeds 1", () => {
  assert.deepEqual(cpuShares(100, [50, 25]), [0.5, 0.25]);
  assert.deepEqual(cpuShares(100, [150, -3]), [1, 0]);
  assert.deepEqual(cpuShares(100, [100, 100]), [0.5, 0.5]);
  assert.deepEqual(cpuShares(0, [10]), [0]);
});

test("splitEnergy: whole µJ, never more than the energy, none lost to rounding", () => {
  const parts = splitEnergy(1000, [1 / 3, 1 / 3, 1 / 3]);
  assert.deepEqual(
    parts.reduce((a, b) => a + b, 0),
    1000,
  );
  assert.ok(parts.every((p) => p === 333 || p === 334));
  assert.deepEqual(splitEnergy(1001, [0.5, 0.25]), [501, 250]);
});

test("all busy time in listed processes: Σ process energy = host energy (package + dram)", async () => {
  // knownHost: package +20 J, dram +4 J in 2 s, busy ticks 100/60/40 for pids 100/200/300; here core +10 J too.
  const host = await knownHost();
  try {
    await host.rig.power.advance("intel-rapl:0:0", 10_000_000);
    const s = await host.step();
    assert.equal(s.host.energyUj, 24_000_000);
    assert.equal(s.host.powerUw, 12_000_000);
    assert.equal(s.valueSource, "powercap_rapl_pkg");
    assert.equal(s.sockets[0]?.powerUw, 10_000_000);
    assert.deepEqual(
      s.sockets[0]?.domains.map((d) => [d.name, d.powerUw]),
      [
        ["core", 5_000_000],
        ["uncore", 0],
        ["dram", 2_000_000],
      ],
    );
    const byPid = new Map(s.processes.map((p) => [p.pid, p]));
    assert.equal(byPid.get(100)?.energyUj, 12_000_000);
    assert.equal(byPid.get(200)?.energyUj, 7_200_000);
    assert.equal(byPid.get(300)?.energyUj, 4_800_000);
    assert.equal(byPid.get(100)?.powerUw, 6_000_000);
    assert.equal(
      s.processes.reduce((a, p) => a + p.energyUj, 0),
      s.host.energyUj,
    );
    assert.deepEqual(s.processes.map((p) => p.pid).slice(0, 3), [100, 200, 300]);
  } finally {
    await host.cleanup();
  }
});

test("keepProcesses false: the same attribution, and a Snapshot that refuses to list processes", async () => {
  const kept = await knownHost();
  const bare = await knownHost({ keepProcesses: false });
  try {
    const a = await kept.step();
    const b = await bare.step();
    assert.equal(b.processCount, a.processCount);
    assert.deepEqual([b.host, b.sockets, b.attributedUj, b.othersUj, b.busyTicks], [a.host, a.sockets, a.attributedUj, a.othersUj, a.busyTicks]);
    assert.equal(a.processes.length, a.processCount);
    assert.throws(() => b.processes, /keeps no processes/);
  } finally {
    await kept.cleanup();
    await bare.cleanup();
  }
});

test("busy time outside listed processes: Σ process energy stays below host energy", async () => {
  const rig = await fixtureRig("intel-1socket");
  try {
    await rig.power.advance("intel-rapl:0", 10_000_000);
    await rig.proc.advanceBusy(100);
    await rig.proc.advanceProcess(100, 50);
    rig.advanceClock(1);
    const s = rig.meter.measure();
    assert.equal(s.processes.find((p) => p.pid === 100)?.energyUj, 5_000_000);
    assert.equal(
      s.processes.reduce((a, p) => a + p.energyUj, 0),
      5_000_000,
    );
  } finally {
    await rig.cleanup();
  }
});

test("more process time than busy time (sampling skew): normalised, never above the host", async () => {
  const rig = await fixtureRig("amd");
  try {
    await rig.power.advance("intel-rapl:0", 3_000_001);
    // Shares 40/40 = 1 and 20/40 = 0.5 sum to 1.5: normalised to 2/3 and 1/3.
    await rig.proc.advanceBusy(40);
    await rig.proc.advanceProcess(100, 40);
    await rig.proc.advanceProcess(200, 20);
    rig.advanceClock(1);
    const s = rig.meter.measure();
    const total = s.processes.reduce((a, p) => a + p.energyUj, 0);
    assert.equal(total, s.host.energyUj);
    assert.equal(s.processes.find((p) => p.pid === 100)?.energyUj, 2_000_001);
    assert.equal(s.processes.find((p) => p.pid === 200)?.energyUj, 1_000_000);
  } finally {
    await rig.cleanup();
  }
});

test("a counter wrapping at max_energy_range_uj: the energy across the wrap, no spike", async () => {
  const rig = await fixtureRig("intel-1socket");
  try {
    const max = 262143328850;
    await rig.power.setEnergy("intel-rapl:0", max - 1_000_000);
    rig.advanceClock(1);
    rig.meter.measure();
    await rig.power.advance("intel-rapl:0", 3_000_000);
    assert.equal(await rig.power.energy("intel-rapl:0"), 2_000_000);
    rig.advanceClock(1);
    const s = rig.meter.measure();
    assert.equal(s.sockets[0]?.energyUj, 3_000_000);
    assert.equal(s.host.powerUw, 3_000_000);
  } finally {
    await rig.cleanup();
  }
});

test("psys is the host energy when present; both sockets listed", async () => {
  const rig = await fixtureRig("intel-2socket-psys");
  try {
    await rig.power.advance("intel-rapl:0", 1_000_000);
    await rig.power.advance("intel-rapl:1", 2_000_000);
    await rig.power.advance("intel-rapl:2", 9_000_000);
    rig.advanceClock(1);
    const s = rig.meter.measure();
    assert.equal(s.valueSource, "powercap_rapl_psys");
    assert.equal(s.host.energyUj, 9_000_000);
    assert.deepEqual(
      s.sockets.map((k) => [k.id, k.energyUj]),
      [
        [0, 1_000_000],
        [1, 2_000_000],
      ],
    );
  } finally {
    await rig.cleanup();
  }
});

test("a process that vanishes between reads is skipped; a new one counts whole", async () => {
  const rig = await fixtureRig("amd");
  try {
    await rm(join(rig.proc.root, "300"), { recursive: true });
    // pid 500 started 0.5 s after the first reading (uptime 1000 s) and used 30 ticks.
    await mkdir(join(rig.proc.root, "500"));
    await writeFile(join(rig.proc.root, "500", "stat"), "500 (new) R 1 500 500 0 -1 4194560 0 0 0 0 25 5 0 0 20 0 1 0 100050 1000 10 0\n");
    await writeFile(join(rig.proc.root, "500", "cmdline"), "new\0");
    await rig.proc.setUptime(1001);
    await rig.power.advance("intel-rapl:0", 1_000_000);
    await rig.proc.advanceBusy(100);
    rig.advanceClock(1);
    const s = rig.meter.measure();
    assert.equal(
      s.processes.some((p) => p.pid === 300),
      false,
    );
    assert.equal(s.processes.find((p) => p.pid === 500)?.energyUj, 300_000);
  } finally {
    await rig.cleanup();
  }
});
