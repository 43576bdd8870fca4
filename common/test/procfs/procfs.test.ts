import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { busyTicks, parsePidStatBytes, parseProcStat, ProcessTable, ScaphError } from "../../src/index.js";

/** /proc/PID/stat's text, parsed as the table parses its bytes. */
const parsePidStat = (text: string): ReturnType<typeof parsePidStatBytes> => parsePidStatBytes(Buffer.from(text, "utf8"));
import { fixturesDir } from "@scaph/test-support";

const procRoot = join(fixturesDir(), "proc", "basic");

test("/proc/stat busy time does not count guest time twice", () => {
  const t = parseProcStat("cpu  10000 200 3000 80000 500 100 50 7 1500 20\n");
  assert.equal(t.guest, 1500);
  assert.equal(busyTicks(t), 10000 + 200 + 3000 + 100 + 50 + 7);
});

test("/proc/stat without a cpu line is a clear error", () => {
  assert.throws(
    () => parseProcStat("intr 0\n", "/x/stat"),
    (e: unknown) => e instanceof ScaphError && /\/x\/stat/.test(e.message),
  );
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

test("the process table skips kernel threads, zombies and vanished pids", () => {
  const t = new ProcessTable({ procRoot, clockTicks: 100, pageSize: 4096 });
  const s = t.sample();
  assert.deepEqual(
    [...s.processes.values()].map((p) => p.pid).sort((a, b) => a - b),
    [1, 100, 200, 300],
  );
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

test("1,000 processes with 128 KiB command lines renaming themselves every step (hostile round 3, item 8): renames, not execs; their command lines not read again", async () => {
  const { mkdtemp, mkdir, rm, symlink, writeFile } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const root = await mkdtemp(join(tmpdir(), "scaph-renames-"));
  const N = 1000;
  const statOf = (pid: number, comm: string, utime: number): string =>
    `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${utime} 0 0 0 20 0 1 0 ${5000 + pid} 104857600 2560 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n`;
  try {
    await writeFile(join(root, "stat"), "cpu  100 0 100 1000 0 0 0 0 0 0\ncpu0 100 0 100 1000 0 0 0 0 0 0\n");
    await writeFile(join(root, "uptime"), "100.00 0.00\n");
    const long = `/usr/bin/app\0${"x".repeat(128 * 1024)}`;
    for (let pid = 1000; pid < 1000 + N; pid++) {
      await mkdir(join(root, String(pid)));
      await writeFile(join(root, String(pid), "stat"), statOf(pid, "app", 0));
      await writeFile(join(root, String(pid), "cmdline"), long);
      await symlink("/usr/bin/app", join(root, String(pid), "exe"));
    }
    const table = new ProcessTable({ procRoot: root, clockTicks: 100, pageSize: 4096 });
    const first = new Map([...table.sample().processes].map(([k, p]) => [k, { info: p, cmdline: p.cmdline }]));
    assert.equal(first.size, N);
    const cpu: number[] = [];
    for (let step = 1; step <= 5; step++) {
      for (let pid = 1000; pid < 1000 + N; pid++) await writeFile(join(root, String(pid), "stat"), statOf(pid, `name-${step}`, step * 10));
      const t0 = process.cpuUsage();
      const s = table.sample();
      const used = process.cpuUsage(t0);
      cpu.push((used.user + used.system) / 1000);
      for (const [k, p] of s.processes) {
        const was = first.get(k);
        assert.ok(was, k);
        assert.equal(p, was.info, `${k}: the same process object (a rename is no exec)`);
        assert.equal(p.execs, 0);
        assert.equal(p.cmdline, was.cmdline, `${k}: its command line was not read again`);
        assert.equal(p.comm, `name-${step}`);
        assert.equal(p.cpuTicks - (p.prevCpuTicks ?? 0), 10, "its CPU time goes on");
      }
    }
    console.log(`# a step of 1,000 renaming processes with 128 KiB command lines: ${cpu.map((c) => c.toFixed(0)).join(", ")} ms of CPU`);
    // a real exec of one of them (a new exe), and a command line rewritten with the rename: both read again
    await writeFile(join(root, "1000", "stat"), statOf(1000, "other", 60));
    await rm(join(root, "1000", "exe"));
    await symlink("/usr/bin/other", join(root, "1000", "exe"));
    await writeFile(join(root, "1001", "stat"), statOf(1001, "postgres: walwriter", 60));
    await writeFile(join(root, "1001", "cmdline"), "postgres: walwriter\0");
    const s = table.sample();
    const exec = s.processes.get("1000:6000");
    assert.equal(exec?.execs, 1);
    assert.equal(exec?.exe, "/usr/bin/other");
    const retitled = s.processes.get("1001:6001");
    assert.equal(retitled?.execs, 1);
    assert.deepEqual(retitled?.cmdline, ["postgres: walwriter"]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("sampleYielding reads what sample reads, giving the event loop a turn every SAMPLE_CHUNK processes", async () => {
  const { mkdtemp, mkdir, writeFile, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { SAMPLE_CHUNK } = await import("../../src/procfs/table.js");
  const root = await mkdtemp(join(tmpdir(), "scaph-yield-"));
  try {
    const n = SAMPLE_CHUNK * 4 + 17;
    await writeFile(join(root, "stat"), "cpu  1000 0 500 9000 0 0 0 0 0 0\n");
    await writeFile(join(root, "uptime"), "100.00 180.00\n");
    for (let pid = 100; pid < 100 + n; pid++) {
      await mkdir(join(root, String(pid)));
      await writeFile(
        join(root, String(pid), "stat"),
        `${pid} (w${pid}) S 1 ${pid} ${pid} 0 -1 4194560 0 0 0 0 ${pid} 1 0 0 20 0 1 0 ${5000 + pid} 1048576 64 0\n`,
      );
      await writeFile(join(root, String(pid), "cmdline"), `/usr/bin/w\0${pid}\0`);
    }
    const a = new ProcessTable({ procRoot: root, clockTicks: 100, pageSize: 4096 });
    const b = new ProcessTable({ procRoot: root, clockTicks: 100, pageSize: 4096 });
    let turns = 0;
    let counting = true;
    const count = (): void => {
      if (!counting) return;
      turns++;
      setImmediate(count);
    };
    setImmediate(count);
    const yielded = await b.sampleYielding();
    counting = false;
    const whole = a.sample();
    assert.equal(yielded.processes.size, n);
    assert.deepEqual(
      [...yielded.processes.values()].map((p) => [p.pid, p.cpuTicks, p.startTicks]),
      [...whole.processes.values()].map((p) => [p.pid, p.cpuTicks, p.startTicks]),
    );
    assert.ok(turns >= Math.floor(n / SAMPLE_CHUNK), `the event loop had ${turns} turns during the reading of ${n} processes`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
