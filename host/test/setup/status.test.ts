import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { STATUS_FILE } from "../../src/vm/status-file.js";
import { collectStatus, formatStatus, statusFailed } from "../../src/setup/status.js";
import { qemuRig } from "../qemu/rig.js";

test("libvirt unreachable: status reads the daemon's status file, says so, and fails; a stale file is flagged", async () => {
  const q = await qemuRig();
  try {
    await q.step();
    const s = await q.step(); // the daemon's pipeline wrote its status file in the base dir
    const o = { connect: `test://${join(q.baseDir, "no-such-node.xml")}`, baseDir: q.baseDir };
    const r = await collectStatus(o);
    assert.deepEqual(
      r.notes.map((n) => n.kind),
      ["libvirt-unreachable"],
    );
    assert.deepEqual(r.rows.map((x) => x.domain).sort(), s.vms.map((v) => v.name).sort());
    assert.ok(r.rows.length >= 2, formatStatus(r));
    assert.ok(r.rows.every((x) => x.state === "running" && x.power_w !== null));
    assert.equal(statusFailed(r), true, "libvirt down is a problem");
    assert.match(formatStatus(r), /^note: libvirt unreachable/m);
    // the daemon's line: the rig's /proc is a fixture copy, read anew each step, so no file is held
    assert.equal(r.daemon?.proc_files_held, 0);
    assert.match(formatStatus(r), /^daemon: pid \d+, \d+ steps of [0-9.]+ s, 0 files of \/proc held open$/m);

    // the daemon stopped a minute ago
    const file = join(q.baseDir, STATUS_FILE);
    const st = JSON.parse(await readFile(file, "utf8")) as { timestamp_s: number };
    await writeFile(file, JSON.stringify({ ...st, timestamp_s: st.timestamp_s - 60 }));
    const stale = await collectStatus(o);
    assert.deepEqual(
      stale.notes.map((n) => n.kind),
      ["daemon-not-running", "libvirt-unreachable"],
    );
    assert.ok(stale.rows.every((x) => x.problems.includes("the daemon's status is stale")));
    assert.equal(stale.daemon, undefined, "no daemon line from a stale status file");
  } finally {
    await q.cleanup();
  }
});

test("libvirt unreachable: a VM on its way in, in the daemon's status file, is a row in state incoming with no problem", async () => {
  const q = await qemuRig();
  try {
    await q.step();
    await q.step();
    const file = join(q.baseDir, STATUS_FILE);
    const st = JSON.parse(await readFile(file, "utf8")) as { timestamp_s: number };
    await writeFile(file, JSON.stringify({ ...st, timestamp_s: Date.now() / 1000, incoming: [{ name: "arriving", uuid: null, pid: 4242 }] }));
    const r = await collectStatus({ connect: `test://${join(q.baseDir, "no-such-node.xml")}`, baseDir: q.baseDir });
    const row = r.rows.find((x) => x.domain === "arriving");
    assert.equal(row?.state, "incoming", formatStatus(r));
    assert.deepEqual(row?.problems, []);
    assert.equal(row?.power_w, null, "no share while it is on its way in");
  } finally {
    await q.cleanup();
  }
});

test("status names a live migration's states from libvirt's state and reason", async () => {
  const { stateText } = await import("../../src/setup/status.js");
  const { DomainState, PausedReason, RunningReason, ShutoffReason } = await import("@scaph/libvirt/flags");
  assert.equal(stateText(DomainState.PAUSED, PausedReason.MIGRATION), "paused (migrating)");
  assert.equal(stateText(DomainState.RUNNING, RunningReason.MIGRATED), "running (migrated in)");
  assert.equal(stateText(DomainState.SHUTOFF, ShutoffReason.MIGRATED), "shut off (migrated away)");
  assert.equal(stateText(DomainState.RUNNING, RunningReason.BOOTED), "running");
  assert.equal(stateText(DomainState.PAUSED, PausedReason.USER), "paused");
});

test("status prints a hostile domain name quoted and escaped in its table, never raw", async () => {
  const { formatStatus } = await import("../../src/setup/status.js");
  const row = {
    state: "running",
    running: true,
    transport: null,
    live_transport: null,
    mounted: false,
    tree_age_s: null,
    power_w: null,
    channel: null,
    problems: [],
  };
  const out = formatStatus({
    notes: [],
    rows: [
      { ...row, domain: "evil\u202etxt.exe\u2028\tx" },
      { ...row, domain: "web-1" },
    ],
  });
  assert.ok(!/[\u202e\u2028\t]/.test(out.replace(/  /g, "")), JSON.stringify(out));
  assert.match(out, /"evil\\u202etxt\.exe\\u2028\\tx"/);
  assert.match(out, /^web-1 /m, "a plain name stays as it is");
});
