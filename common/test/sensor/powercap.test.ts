import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PowercapSensor } from "../../src/index.js";
import { copyFixture, removeTree } from "@scaph/test-support";

test("the sensor follows a tree that gains a zone, and recovers from a zone that vanished", async () => {
  const root = await copyFixture("powercap/amd");
  try {
    const s = await PowercapSensor.open({ root });
    assert.deepEqual(
      s.zones().map((z) => z.name),
      ["package-0", "core"],
    );
    await mkdir(join(root, "intel-rapl:0:1"));
    for (const [f, v] of [
      ["name", "dram"],
      ["energy_uj", "5"],
      ["max_energy_range_uj", "65712999613"],
    ])
      await writeFile(join(root, "intel-rapl:0:1", f!), `${v}\n`);
    for (let i = 0; i < PowercapSensor.REDISCOVER_EVERY; i++) s.read();
    assert.deepEqual(
      s.zones().map((z) => z.name),
      ["package-0", "core", "dram"],
    );
    await rm(join(root, "intel-rapl:0:0"), { recursive: true });
    assert.throws(() => s.read(), /disappeared/);
    const after = s.read();
    assert.deepEqual(
      after.readings.map((r) => r.zone.name),
      ["package-0", "dram"],
    );
  } finally {
    await removeTree(root);
  }
});
