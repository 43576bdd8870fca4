import { test } from "node:test";
import assert from "node:assert/strict";
import { formatStdout, formatWatts, rustDuration, toJsonReport } from "../../src/index.js";
import { fixtureRig } from "@scaph/test-support";
import { checkGolden } from "@scaph/test-support";

test("formatWatts: µW to W with up to 6 decimals", () => {
  assert.equal(formatWatts(9_391_334), "9.391334");
  assert.equal(formatWatts(0), "0");
  assert.equal(formatWatts(1_500_000.4), "1.5");
});

async function fixedSnapshot() {
  const rig = await fixtureRig("intel-2socket-psys");
  try {
    await rig.power.advance("intel-rapl:0", 30_000_000);
    await rig.power.advance("intel-rapl:0:0", 20_000_000);
    await rig.power.advance("intel-rapl:0:1", 4_000_000);
    await rig.power.advance("intel-rapl:1", 10_000_000);
    await rig.power.advance("intel-rapl:1:0", 5_000_000);
    await rig.power.advance("intel-rapl:1:1", 3_000_000);
    await rig.power.advance("intel-rapl:2", 60_000_000);
    await rig.proc.advanceBusy(400);
    await rig.proc.advanceProcess(100, 150, 50);
    await rig.proc.advanceProcess(200, 100);
    await rig.proc.advanceProcess(300, 10);
    rig.advanceClock(2);
    return rig.meter.measure();
  } finally {
    await rig.cleanup();
  }
}

test("rustDuration: the step as Scaphandre's first line prints it (Rust's Debug of a Duration)", () => {
  assert.deepEqual([2, 1.5, 10, 0.5, 0.25, 0.0005].map(rustDuration), ["2s", "1.5s", "10s", "500ms", "250ms", "500µs"]);
});

test("stdout golden: Scaphandre 1.0's layout (Host / SocketN / Top N consumers), its tabs and empty lines too", async () => {
  const s = await fixedSnapshot();
  const out = formatStdout(s, { kind: "top", n: 3 });
  await checkGolden("stdout/intel-2socket-psys.txt", out);
  await checkGolden("stdout/intel-2socket-psys-regex.txt", formatStdout(s, { kind: "regex", re: /python/, source: "python" }));
  // as its source prints them: each domain's power followed by a tab, an empty line after each socket and after the separator
  assert.match(out, /^Socket0\t15 W \|\t10 W\t2 W\t\n\n/m);
  assert.ok(out.endsWith(`${"-".repeat(60)}\n\n`));
  // an idle socket is "----", a filter that matches nothing says so
  const idle = formatStdout(
    { ...s, sockets: s.sockets.map((k) => ({ ...k, powerUw: 0 })) },
    { kind: "regex", re: /nothing-matches/, source: "nothing-matches" },
  );
  assert.match(idle, /^Socket1\t---- W \|\t/m);
  assert.match(idle, /^No processes found yet or filter returns no value\.$/m);
});

test("json golden: one report, as the README shows it", async () => {
  const s = await fixedSnapshot();
  const r = toJsonReport({ ...s, timestampS: 1764100000.123 }, { kind: "top", n: 2 });
  await checkGolden("json/intel-2socket-psys.json", JSON.stringify([r], null, 1) + "\n");
});

test("json report: µW values, all sockets with their domains, cmdline joined with spaces", async () => {
  const s = await fixedSnapshot();
  const r = toJsonReport(s, { kind: "top", n: 2 });
  assert.equal(r.host.consumption, 30_000_000);
  assert.equal(r.host.value_source, "powercap_rapl_psys");
  assert.deepEqual(
    r.sockets.map((k) => [k.id, k.consumption, k.domains.map((d) => [d.name, d.consumption])]),
    [
      [
        0,
        15_000_000,
        [
          ["core", 10_000_000],
          ["dram", 2_000_000],
        ],
      ],
      [
        1,
        5_000_000,
        [
          ["core", 2_500_000],
          ["dram", 1_500_000],
        ],
      ],
    ],
  );
  assert.deepEqual(
    r.consumers.map((c) => [c.pid, c.exe, c.cmdline, c.consumption]),
    [
      [100, "nginx", "nginx: master process /usr/sbin/nginx", 15_000_000],
      [200, "my (weird) proc", "python3 /opt/app/script.py --flag", 7_500_000],
    ],
  );
});
