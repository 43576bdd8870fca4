/**
 * A tree that carries its host's clock (HOST_CLOCK_FILE; each energy_uj's
 * modification time the host time of its value): scaph's own reader times
 * each reading by it. Read every 2 s of its own while the tree moves once a
 * host second, it reports the host's power exactly, where timing by its own
 * clock found 3 steps in a window of 2 (91.4 W on a 66 W host).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOST_CLOCK_FILE, HOST_CLOCK_TEXT, PowercapSensor, replaceFile } from "../../src/index.js";
import { readEnergy } from "../../src/powercap/read.js";
import { FRAME_REREADS, oneFrame } from "../../src/sensor/powercap.js";
import { energyBetween } from "../../src/attribution/energy.js";

test("timed by the host time of its values: exact power at any reading moment; no new value: a quiet skip; a host clock that went back: one interval on the reader's clock", async () => {
  const root = await mkdtemp(join(tmpdir(), "scaph-host-clock-"));
  const zone = join(root, "intel-rapl:0");
  const { mkdir } = await import("node:fs/promises");
  await mkdir(zone);
  await writeFile(join(zone, "name"), "package-0\n");
  await writeFile(join(zone, "max_energy_range_uj"), "262143328850\n");
  const write = (uj: number, tS: number): void => replaceFile(zone, "energy_uj", `${uj}\n`, { mtimeS: tS });
  try {
    const T = 1_795_900_000;
    write(0, T);
    await writeFile(join(root, HOST_CLOCK_FILE), HOST_CLOCK_TEXT);
    const s = await PowercapSensor.open({ root });
    // 30 W over host seconds; this reader reads after 3 host steps, then after 2, whenever its own clock says
    const a = s.read();
    write(30e6, T + 1);
    write(60e6, T + 2);
    write(90e6, T + 3);
    const b = s.read();
    assert.equal(energyBetween(a, b).intervalS, 3);
    assert.equal(energyBetween(a, b).hostUj / energyBetween(a, b).intervalS, 30e6);
    assert.throws(() => s.read(), /no new value in the tree since the last step/, "nothing new: skipped");
    write(150e6, T + 5); // 60 J over 2 host seconds
    const c = s.read();
    assert.equal(energyBetween(b, c).hostUj / energyBetween(b, c).intervalS, 30e6);
    // the host's clock stepped back an hour: that interval is timed by this reader's own clock (> 0), then on
    write(180e6, T + 5 - 3600);
    const d = s.read();
    assert.ok(energyBetween(c, d).intervalS > 0);
    write(210e6, T + 6 - 3600);
    assert.equal(energyBetween(d, s.read()).intervalS, 1);
    // without the mark, the same tree is read by this reader's clock, as any sysfs tree
    await rm(join(root, HOST_CLOCK_FILE));
    const plain = await PowercapSensor.open({ root });
    const p1 = plain.read();
    await utimes(join(zone, "energy_uj"), T, T);
    const p2 = plain.read();
    assert.ok(energyBetween(p1, p2).intervalS < 1, "timed by the reader's clock: the file's time is not taken");
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("zones of two frames (read while the writer was between two files): read again until they are of one frame, else taken as they are", async () => {
  const root = await mkdtemp(join(tmpdir(), "scaph-host-clock-"));
  const { mkdir } = await import("node:fs/promises");
  const zones = ["intel-rapl:0", "intel-rapl:0:2"];
  for (const z of zones) {
    await mkdir(join(root, z));
    await writeFile(join(root, z, "name"), z === "intel-rapl:0" ? "package-0\n" : "dram\n");
    await writeFile(join(root, z, "max_energy_range_uj"), "262143328850\n");
  }
  await writeFile(join(root, HOST_CLOCK_FILE), HOST_CLOCK_TEXT);
  // as scaph's writers: every zone of a frame gets the frame's time, the sub-zones first, the package last
  const write = (z: string, uj: number, tS: number): void => replaceFile(join(root, z), "energy_uj", `${uj}\n`, { mtimeS: tS });
  const T = 1_795_900_000;
  try {
    write("intel-rapl:0:2", 0, T);
    write("intel-rapl:0", 0, T);
    // frame 2 half written (its dram, not yet its package); the writer finishes it after the first read
    write("intel-rapl:0:2", 5e6, T + 1);
    let reads = 0;
    const frame = oneFrame(() => {
      const values = zones.map((z) => readEnergy(join(root, z)));
      if (++reads === 1) write("intel-rapl:0", 25e6, T + 1);
      return values;
    });
    assert.equal(reads, 2, "read again once");
    assert.deepEqual(
      frame.map((v) => v.uj),
      [25e6, 5e6],
    );
    // a writer stopped mid-frame: the zones never agree; FRAME_REREADS more reads, then the tree as it is
    write("intel-rapl:0:2", 10e6, T + 2);
    reads = 0;
    const torn = oneFrame(() => {
      reads++;
      return zones.map((z) => readEnergy(join(root, z)));
    });
    assert.equal(reads, 1 + FRAME_REREADS);
    assert.deepEqual(
      torn.map((v) => v.uj),
      [25e6, 10e6],
    );
    // the sensor reads through it: a frame whole gives the power of a whole frame
    write("intel-rapl:0", 50e6, T + 2);
    const s = await PowercapSensor.open({ root });
    const a = s.read();
    write("intel-rapl:0:2", 15e6, T + 3);
    write("intel-rapl:0", 75e6, T + 3);
    const e = energyBetween(a, s.read());
    assert.deepEqual([e.hostUj, e.intervalS], [30e6, 1]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
