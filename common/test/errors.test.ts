/** Each typed error, matched by its class and reason, never by its text. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { discoverZones, NoPowercapError, ProcessTable, ProcfsError, ScaphError, silentLogger } from "../src/index.js";

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return null;
}

const dir = mkdtempSync(join(tmpdir(), "scaph-errors-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("NoPowercapError: absent (no such directory) and empty (no zone), user errors (exit 1)", () => {
  const absent = caught(() => discoverZones(join(dir, "none"), silentLogger));
  assert.ok(absent instanceof NoPowercapError && absent instanceof ScaphError);
  assert.equal(absent.reason, "absent");
  assert.equal(absent.exitCode, 1);
  mkdirSync(join(dir, "empty"));
  const empty = caught(() => discoverZones(join(dir, "empty"), silentLogger));
  assert.ok(empty instanceof NoPowercapError);
  assert.equal(empty.reason, "empty");
  mkdirSync(join(dir, "unreadable-zone", "intel-rapl:0"), { recursive: true });
  const noEnergy = caught(() => discoverZones(join(dir, "unreadable-zone"), silentLogger));
  assert.ok(noEnergy instanceof NoPowercapError);
  assert.equal(noEnergy.reason, "empty");
});

test("ProcfsError: a --procfs-path that is not a procfs is a user error, not an internal one", () => {
  const missing = new ProcessTable({ procRoot: join(dir, "no-proc"), clockTicks: 100, pageSize: 4096 });
  const e1 = caught(() => missing.sample());
  assert.ok(e1 instanceof ProcfsError && e1 instanceof ScaphError);
  assert.equal(e1.reason, "unreadable", "its stat is read first");
  assert.equal(e1.path, join(dir, "no-proc", "stat"));
  // a root whose stat reads but which cannot be listed
  mkdirSync(join(dir, "fake"));
  writeFileSync(join(dir, "fake", "stat"), "cpu  1 0 0 1 0 0 0 0 0 0\n");
  const notDir = join(dir, "fake", "stat");
  const table = new ProcessTable({ procRoot: join(dir, "fake"), clockTicks: 100, pageSize: 4096 });
  assert.doesNotThrow(() => table.sample());
  const file = new ProcessTable({ procRoot: notDir, clockTicks: 100, pageSize: 4096 });
  assert.throws(
    () => file.sample(),
    (e: unknown) => e instanceof ProcfsError && e.reason === "unreadable",
  );
});
