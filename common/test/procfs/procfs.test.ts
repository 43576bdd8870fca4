import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { busyTicks, parsePidStat, parseProcStat, ProcessTable, ScaphError } from "../../src/index.js";
import { fixturesDir } from "@scaph/test-support";

const procRoot = join(fixturesDir(), "proc", "basic");

test("/proc/stat busy time does not count guest time twice", () => {
  const t = parseProcStat("cpu  10000 200 3000 80000 500 100 50 7 1500 20\n");
  assert.equal(t.guest, 1500);
  assert.equal(busyTicks(t), 10000 + 200 + 3000 + 100 + 50 + 7);
});

test("/proc/stat without a cpu line is a clear error", () => {
  assert.throws(() => parseProcStat("intr 0\n", "/x/stat"), (e: unknown) => e instanceof ScaphError && /\/x\/stat/.test(e.message));
});

test("/proc/PID/stat: comm with spaces and parentheses is read up to the last ')'", () => {
  const s = parsePidStat("200 (my (weird) proc) S 1 200 200 0 -1 4194560 100 0 0 0 3000 1000 0 0 20 0 1 0 6000 104857600 2560 0");
  assert.ok(s);
  assert.equal(s.comm, "my (weird) proc");
  assert.equal(s.cpuTicks, 4000);
  assert.equal(s.startTicks, 6000);
  assert.equal(s.ppid, 1);
  assert.equal(parsePidStat("garbage"), null);
  assert.equal(parsePidStat("12 (x) S 1"), null);
});

test("the process table skips kernel threads, zombies and vanished pids", async () => {
  const t = new ProcessTable({ procRoot, clockTicks: 100, pageSize: 4096 });
  const s = t.sample();
  assert.deepEqual([...s.processes.values()].map((p) => p.pid).sort((a, b) => a - b), [1, 100, 200, 300]);
  const nginx = [...s.processes.values()].find((p) => p.pid === 100);
  assert.equal(nginx?.exe, "/usr/sbin/nginx");
  assert.deepEqual(nginx?.cmdline, ["nginx: master process /usr/sbin/nginx"]);
  assert.deepEqual([...s.processes.values()].find((p) => p.pid === 200)?.cmdline, ["python3", "/opt/app/script.py", "--flag"], "cmdline is split on NUL");
  assert.equal(nginx?.key, "100:5000");
  assert.equal(s.busyTicks, 10000 + 200 + 3000 + 100 + 50);
  assert.equal(s.uptimeS, 1000);
});

test("an exec (a new comm, the same pid and start time) makes the table read exe and cmdline again, with execs one higher and the CPU time going on", async () => {
  const { copyFixture, removeTree, ProcFixture } = await import("@scaph/test-support");
  const { readFile, rm, symlink, writeFile } = await import("node:fs/promises");
  const root = await copyFixture("proc/basic");
  try {
    const table = new ProcessTable({ procRoot: root, clockTicks: 100, pageSize: 4096 });
    const before = table.sample().processes.get("100:5000");
    assert.ok(before);
    assert.equal(before.exe, "/usr/sbin/nginx");
    assert.equal(before.execs, 0);
    // A step with nothing new: the same object, the same identity.
    assert.equal(table.sample().processes.get("100:5000"), before);
    // The process execs qemu: the kernel changes comm, exe and cmdline; pid and start time stay.
    const stat = join(root, "100", "stat");
    await writeFile(stat, (await readFile(stat, "utf8")).replace("(nginx)", "(qemu-system-x86)"));
    await rm(join(root, "100", "exe"));
    await symlink("/usr/bin/qemu-system-x86_64", join(root, "100", "exe"));
    await writeFile(join(root, "100", "cmdline"), "qemu-system-x86_64\0-name\0guest=vm1\0");
    await new ProcFixture(root).advanceProcess(100, 30);
    const after = table.sample().processes.get("100:5000");
    assert.ok(after && after !== before);
    assert.equal(after.comm, "qemu-system-x86");
    assert.equal(after.exe, "/usr/bin/qemu-system-x86_64");
    assert.deepEqual(after.cmdline, ["qemu-system-x86_64", "-name", "guest=vm1"]);
    assert.equal(after.execs, 1);
    assert.equal(after.cpuTicks - (after.prevCpuTicks ?? 0), 30, "the CPU time over the step is counted across the exec");
  } finally {
    await removeTree(root);
  }
});
