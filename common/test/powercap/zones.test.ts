import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { createLogger, discoverZones, readEnergyUj, ScaphError } from "../../src/index.js";
import { fixturesDir, copyFixture, removeTree, writeAtomic } from "@scaph/test-support";

const fx = (name: string): string => join(fixturesDir(), "powercap", name);

test("intel 1 socket: package and sub-domains, mmio and the control dir ignored", () => {
  const zones = discoverZones(fx("intel-1socket"));
  assert.deepEqual(
    zones.map((z) => [z.id, z.name, z.kind, z.socket]),
    [
      ["intel-rapl:0", "package-0", "package", 0],
      ["intel-rapl:0:0", "core", "subdomain", 0],
      ["intel-rapl:0:1", "uncore", "subdomain", 0],
      ["intel-rapl:0:2", "dram", "subdomain", 0],
    ],
  );
  assert.equal(zones[0]?.maxEnergyRangeUj, 262143328850);
  assert.equal(zones[3]?.maxEnergyRangeUj, 65712999613);
});

test("intel 2 sockets with psys", () => {
  const zones = discoverZones(fx("intel-2socket-psys"));
  const psys = zones.filter((z) => z.kind === "psys");
  assert.equal(psys.length, 1);
  assert.equal(psys[0]?.id, "intel-rapl:2");
  assert.deepEqual(
    zones.filter((z) => z.kind === "subdomain").map((z) => `${z.socket}/${z.name}`),
    ["0/core", "0/dram", "1/core", "1/dram"],
  );
});

test("amd: package and core", () => {
  const zones = discoverZones(fx("amd"));
  assert.deepEqual(
    zones.map((z) => z.name),
    ["package-0", "core"],
  );
});

test("a tree without name or max_energy_range_uj: names inferred, max null, warned once", () => {
  const warnings: string[] = [];
  const log = createLogger({ level: "warn", write: (l) => warnings.push(l) });
  const zones = discoverZones(fx("foreign"), log);
  discoverZones(fx("foreign"), log);
  assert.equal(warnings.length, 4, warnings.join("\n"));
  assert.deepEqual(
    zones.map((z) => [z.name, z.maxEnergyRangeUj]),
    [
      ["package-0", null],
      ["domain-0", null],
    ],
  );
  assert.ok(warnings.some((w) => w.includes("max_energy_range_uj")));
  assert.ok(warnings.some((w) => w.includes("/name is missing")));
});

test("scaphandre's own VM tree: the empty sub-zone is skipped, the package read", () => {
  const zones = discoverZones(fx("scaphandre-vm"));
  assert.deepEqual(
    zones.map((z) => z.id),
    ["intel-rapl:0"],
  );
  assert.equal(readEnergyUj(zones[0]!.path), 123456);
});

test("no tree: an error naming modprobe, --powercap-path, --sensor estimate and scaph-guest", () => {
  assert.throws(
    () => discoverZones("/nonexistent/powercap"),
    (err: unknown) => {
      assert.ok(err instanceof ScaphError);
      for (const s of ["modprobe intel_rapl_common", "--powercap-path", "--sensor estimate", "scaph-guest"]) {
        assert.ok(err.message.includes(s), `message lacks ${s}: ${err.message}`);
      }
      return true;
    },
  );
  assert.throws(() => discoverZones(fx("../proc/basic")), /No RAPL powercap zones/);
});

test("malformed energy_uj: an error naming the file", async () => {
  const root = await copyFixture("powercap/amd");
  try {
    await writeAtomic(join(root, "intel-rapl:0", "energy_uj"), "12ab\n");
    assert.throws(
      () => readEnergyUj(join(root, "intel-rapl:0")),
      (err: unknown) => {
        assert.ok(err instanceof ScaphError);
        assert.match(err.message, /Malformed .*intel-rapl:0\/energy_uj/);
        return true;
      },
    );
    await writeAtomic(join(root, "intel-rapl:0", "energy_uj"), "-5\n");
    assert.throws(() => readEnergyUj(join(root, "intel-rapl:0")), /Malformed/);
  } finally {
    await removeTree(root);
  }
});
