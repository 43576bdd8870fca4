/**
 * /proc/PID/stat held open and read with pread: on this machine's own
 * procfs (nothing to install: every Linux has it), with processes this test
 * starts and ends.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { FD_RESERVE, ProcessTable, StatFiles } from "@scaph/common";
import { copyFixture, removeTree } from "@scaph/test-support";

const busyChild = (): ReturnType<typeof spawn> => spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" });
const sleeper = (): ReturnType<typeof spawn> => spawn("sleep", ["600"], { stdio: "ignore" });

test("a held /proc/PID/stat reads the process's new CPU time at each pread, and ESRCH once it is gone", async () => {
  const child = busyChild();
  const files = new StatFiles(10);
  const buf = Buffer.alloc(4096);
  const path = `/proc/${child.pid}/stat`;
  const first = files.openAndRead(path, buf, 4096);
  assert.ok(first.fd >= 0, "held");
  assert.equal(files.held, 1);
  const ticks = (n: number): number => {
    const f = buf.subarray(0, n).toString("latin1");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return Number(rest[11]) + Number(rest[12]);
  };
  const t0 = ticks(first.length);
  let t1 = t0;
  for (let i = 0; i < 10_000 && t1 <= t0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    t1 = ticks(files.pread(first.fd, buf, 4096));
  }
  assert.ok(t1 > t0, `CPU ticks moved: ${t0} -> ${t1}`);
  child.kill("SIGKILL");
  await once(child, "exit");
  // reaped by Node: the pid may even be someone else's now, but this file is the old process's
  assert.throws(
    () => files.pread(first.fd, buf, 4096),
    (e: NodeJS.ErrnoException) => e.code === "ESRCH",
  );
  files.close(first.fd);
  assert.equal(files.held, 0);
});

test("the process table on the real /proc holds one file per process, closes those of ended processes, and stops at its budget", async () => {
  const kids = [sleeper(), sleeper(), sleeper()];
  try {
    await Promise.all(kids.map((k) => once(k, "spawn")));
    const table = new ProcessTable({ procRoot: "/proc" });
    assert.ok(table.statFiles !== null, "/proc is a procfs: files held");
    const s1 = table.sample();
    const pids = kids.map((k) => k.pid as number);
    for (const pid of pids)
      assert.ok(
        [...s1.processes.values()].some((p) => p.pid === pid),
        `sleep ${pid} seen`,
      );
    assert.ok(s1.procFilesHeld >= 3, `${s1.procFilesHeld} held`);
    const heldBefore = s1.procFilesHeld;
    kids[0]?.kill("SIGKILL");
    await once(kids[0] as ReturnType<typeof spawn>, "exit");
    const s2 = table.sample();
    assert.ok(![...s2.processes.values()].some((p) => p.pid === pids[0]), "the ended process is gone");
    assert.ok(
      [...s2.processes.values()].some((p) => p.pid === pids[1]),
      "the others are read through their held files",
    );
    assert.ok(s2.procFilesHeld < heldBefore + 5, `${s2.procFilesHeld} held after one ended (was ${heldBefore})`);
    table.close();
    assert.equal(table.statFiles?.held, 0, "close() lets every file go");

    const small = new ProcessTable({ procRoot: "/proc", statFileBudget: 2 });
    const s3 = small.sample();
    assert.equal(s3.procFilesHeld, 2, "no more than the budget");
    const s4 = small.sample();
    for (const pid of pids.slice(1))
      assert.ok(
        [...s4.processes.values()].some((p) => p.pid === pid && p.prevCpuTicks !== null),
        `sleep ${pid} read again past the budget`,
      );
    small.close();
  } finally {
    for (const k of kids) k.kill("SIGKILL");
  }
});

test("a copy of /proc on another filesystem is opened anew at each read (a file there may be replaced)", async () => {
  const proc = await copyFixture("proc/qemu");
  try {
    assert.equal(StatFiles.isProcfs(proc), false);
    assert.equal(StatFiles.isProcfs("/proc"), true);
    const table = new ProcessTable({ procRoot: proc });
    assert.equal(table.statFiles, null);
    assert.equal(table.sample().procFilesHeld, 0);
  } finally {
    await removeTree(proc);
  }
});

test("the budget is the soft limit of open files less a reserve", () => {
  const limits =
    "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n";
  assert.equal(StatFiles.budgetFromLimit(limits), 1024 - FD_RESERVE);
  assert.equal(StatFiles.budgetFromLimit(limits.replace("1024 ", "100  ")), 0);
  assert.equal(StatFiles.budgetFromLimit("Max open files            unlimited            unlimited            files\n"), (1 << 20) - FD_RESERVE);
  assert.equal(StatFiles.budgetFromLimit(""), 1024 - FD_RESERVE);
});
