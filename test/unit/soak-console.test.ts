/**
 * The soak's reading of a guest's console (test/soak/guest-console.ts), on
 * a console file written here: a guest whose kernel panics (seen once
 * under TCG right after a live migration) is an event of its own, and its
 * agent is away until the next boot's agent speaks, so "live" waits for it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, chmodSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GuestConsole } from "../soak/guest-console.js";
import { checkSoak } from "../soak/checker.js";
import type { SoakRun } from "../soak/run.js";

const applied = (seq: number, t: number, uj: number): string =>
  `SOAK agent 2026-12-07T08:49:52.501Z DEBUG channel: applied epoch e1 seq ${seq} t ${t}: intel-rapl:0=${uj} intel-rapl:0:2=0\n`;

test("a guest's kernel failing: a guest-crash event, its agent away until the next boot's agent speaks, and 'live' waits for it", () => {
  const dir = mkdtempSync(join(tmpdir(), "scaph-console-"));
  try {
    const file = join(dir, "g.console");
    writeFileSync(file, "SOAK boot mode=idle up=8.73\nSOAK agent-start up=8.76\n" + applied(1, 100, 1e6) + applied(2, 101, 2e6));
    const c = new GuestConsole("g", file, ["intel-rapl:0", "intel-rapl:0:2"]);
    c.poll(1_000);
    appendFileSync(file, "[   16.395383] BUG: kernel NULL pointer dereference, address: 0000000000000021\n[   16.402625] Oops: 0000 [#1] PREEMPT SMP NOPTI\n");
    c.poll(3_000);
    assert.equal(c.crashPending, true, "the soak is to reset it");
    appendFileSync(file, "[   16.426138] Kernel panic - not syncing: Attempted to kill the idle task!\n");
    c.poll(3_200);
    appendFileSync(file, "SOAK agent ,\n"); // what the console still held of the dead agent: not the agent back
    c.poll(3_500);
    appendFileSync(file, "SOAK boot mode=idle up=8.02\nSOAK agent-start up=8.09\n");
    c.poll(14_000);
    appendFileSync(file, applied(3, 115, 3e6));
    c.poll(16_000);
    assert.deepEqual(c.events, [{ type: "guest-crash", target: "g", startMs: 3_000, endMs: 3_000 }]);
    assert.equal(c.boot, 2);
    // (the first boot's agent spoke in the same read as its boot line: away for no time)
    assert.deepEqual(c.agentDown(20_000), [
      { vm: "g", fromMs: 1_000, toMs: 1_000 },
      { vm: "g", fromMs: 3_000, toMs: 16_000 },
    ]);
    assert.ok(c.around(3_000).some((l) => l.includes("kernel: [   16.426138] Kernel panic")));
    // a migration that ended at 2.5 s: no line before 16 s, but the guest was dead from 3 s: no breach of "live"
    const run: SoakRun = {
      lines: [],
      applied: c.applied,
      reports: [],
      reader: [],
      events: [{ type: "migrate", target: "g", startMs: 0, endMs: 2_500 }, ...c.events],
      agentDown: c.agentDown(20_000),
      daemons: [],
      stepS: 1,
      vms: ["g"],
      nowMs: 20_000,
    };
    assert.deepEqual(
      checkSoak(run).breaches.filter((b) => b.invariant === "live"),
      [],
    );
    // without the panic seen, the same console breaks it
    assert.ok(checkSoak({ ...run, agentDown: [], events: run.events.slice(0, 1) }).breaches.some((b) => b.invariant === "live"));
    // the second boot's kernel failing is a second crash (its trace's later lines are not more)
    c.crashPending = false;
    appendFileSync(
      file,
      "[  618.688987] list_del corruption. next->prev should be ffff8b899ff284b8\n[  618.692230] kernel BUG at lib/list_debug.c:62!\n[  618.693012] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI\n",
    );
    c.poll(30_000);
    assert.deepEqual(
      c.events.map((e) => e.startMs),
      [3_000, 30_000],
    );
    assert.equal(c.crashPending, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a console virtlogd rotated (FILE to FILE.0 at 2 MiB, a new FILE begun 0600): every line read once, in order, and the new file writable for both hosts again", () => {
  const dir = mkdtempSync(join(tmpdir(), "scaph-console-"));
  try {
    const file = join(dir, "g.console");
    writeFileSync(file, "SOAK boot mode=idle up=8.73\nSOAK agent-start up=8.76\n" + applied(1, 100, 1e6));
    const c = new GuestConsole("g", file, ["intel-rapl:0", "intel-rapl:0:2"]);
    c.poll(1_000);
    // written after that read, then rotated: the old file's tail (a line cut at the rotation included) and the new file
    appendFileSync(file, applied(2, 101, 2e6) + applied(3, 102, 3e6).slice(0, 30));
    renameSync(file, `${file}.0`);
    writeFileSync(file, applied(3, 102, 3e6).slice(30) + applied(4, 103, 4e6), { mode: 0o600 });
    chmodSync(file, 0o600);
    c.poll(2_000);
    appendFileSync(file, applied(5, 104, 5e6));
    c.poll(3_000);
    assert.deepEqual(
      c.applied.map((a) => [a.seq, a.counterUj, a.seenMs]),
      [
        [1, 1e6, 1_000],
        [2, 2e6, 2_000],
        [3, 3e6, 2_000],
        [4, 4e6, 2_000],
        [5, 5e6, 3_000],
      ],
    );
    assert.equal(statSync(file).mode & 0o777, 0o666);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
