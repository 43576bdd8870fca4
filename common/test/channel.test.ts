import { test } from "node:test";
import assert from "node:assert/strict";
import { CHANNEL_MAX_LINE, encodeMessage, parseMessage } from "../src/index.js";
import type { ChannelMessage } from "../src/index.js";

const msg = (over: Partial<ChannelMessage> = {}): ChannelMessage => ({
  v: 1,
  epoch: "0123456789abcdef",
  seq: 7,
  t: 1764100000.25,
  step_s: 2,
  zones: [
    { zone: "intel-rapl:0", name: "package-0", energy_uj: 123, max_energy_range_uj: 262143328850 },
    { zone: "intel-rapl:0:2", name: "dram", energy_uj: 45, max_energy_range_uj: 65712999613 },
  ],
  ...over,
});

test("a message round-trips through its line, which ends in one newline", () => {
  const line = encodeMessage(msg());
  assert.ok(line.endsWith("}\n"));
  assert.equal(line.indexOf("\n"), line.length - 1);
  const r = parseMessage(line.slice(0, -1));
  assert.ok(r.ok);
  assert.deepEqual(r.message, msg());
});

test("a message that would not fit in 4 KiB is not written", () => {
  const zones = Array.from({ length: 16 }, (_, i) => ({ zone: `intel-rapl:${i}`, name: "x".repeat(200), energy_uj: 1, max_energy_range_uj: 2 }));
  assert.throws(() => encodeMessage(msg({ zones })), /above 4096/);
});

test("untrusted lines: anything but the exact format is refused, with the reason", () => {
  const base = JSON.parse(encodeMessage(msg())) as Record<string, unknown>;
  const cases: [unknown, RegExp][] = [
    ["not json", /not JSON/],
    [[], /version/],
    [{ ...base, v: 2 }, /version 2/],
    [{ ...base, epoch: "../../etc" }, /bad epoch/],
    [{ ...base, epoch: "x".repeat(65) }, /bad epoch/],
    [{ ...base, seq: -1 }, /bad seq/],
    [{ ...base, t: "now" }, /bad t/],
    [{ ...base, t: 1e300 }, /bad t/],
    [{ ...base, t0: (base.t as number) + 1 }, /bad t0/],
    [{ ...base, t0: "then" }, /bad t0/],
    [{ ...base, step_s: Infinity }, /bad step_s/],
    [{ ...base, zones: [] }, /bad zones/],
    [{ ...base, zones: [{ zone: "intel-rapl:0/..", name: "package-0", energy_uj: 1, max_energy_range_uj: 9 }] }, /bad zone id/],
    [{ ...base, zones: [{ zone: "intel-rapl:0", name: "package 0\n", energy_uj: 1, max_energy_range_uj: 9 }] }, /bad zone name/],
    [{ ...base, zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: 9, max_energy_range_uj: 9 }] }, /bad energy_uj/],
    [{ ...base, zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: 1.5, max_energy_range_uj: 9 }] }, /bad energy_uj/],
    [{ ...base, zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: 1, max_energy_range_uj: 0 }] }, /bad max/],
    [
      {
        ...base,
        zones: [base.zones, base.zones]
          .flat()
          .slice(0, 1)
          .concat((base.zones as unknown[]).slice(0, 1)),
      },
      /a zone twice/,
    ],
  ];
  for (const [value, why] of cases) {
    const r = parseMessage(typeof value === "string" ? value : JSON.stringify(value));
    assert.ok(!r.ok, JSON.stringify(value));
    assert.match(r.why, why, JSON.stringify(value));
  }
  assert.match((parseMessage("x".repeat(CHANNEL_MAX_LINE)) as { why: string }).why, /too long/);
});
