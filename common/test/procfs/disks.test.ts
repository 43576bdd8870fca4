import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/log.js";
import { DiskReader } from "../../src/procfs/disk-reader.js";
import { diskMounts } from "../../src/procfs/disks.js";

/** A mountinfo line (the fields the disk reader reads: device, mount point, type, source). */
const line = (id: number, mountPoint: string, fsType: string, source: string, device = `8:${id}`): string =>
  `${id} 1 ${device} / ${mountPoint.replace(/ /g, "\\040")} rw,relatime shared:1 - ${fsType} ${source} rw`;

async function procWith(dir: string, lines: string[]): Promise<string> {
  const proc = join(dir, "proc");
  await mkdir(join(proc, "self"), { recursive: true });
  await writeFile(join(proc, "self", "mountinfo"), [...lines, ""].join("\n"));
  return proc;
}

function logLines(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: "info", write: (l) => lines.push(l) }), lines };
}

test("disks: the filesystems that hold data, once each, sized by statfs, typed from sysfs; pseudo, network, FUSE, unreadable ones left out", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-disks-"));
  try {
    const proc = await procWith(dir, [
      line(1, "/", "ext4", "/dev/fakedisk1"),
      line(2, "/proc", "proc", "proc"),
      line(3, "/sys/fs/cgroup", "cgroup2", "cgroup2"),
      line(4, "/run/user/0", "tmpfs", "tmpfs"),
      line(5, "/mnt/share", "nfs4", "server:/export"),
      line(6, "/nonexistent/data", "xfs", "/dev/fakedisk2"),
      line(7, "/", "ext4", "/dev/fakedisk1", "8:1"),
      line(8, dir, "btrfs", "/dev/mapper/vg-home"),
      line(9, join(dir, "proc"), "btrfs", "/dev/mapper/vg-home", "8:8"), // a bind mount of the one above
      line(10, "/tmp", "fuse.rclone", "remote:"),
      line(11, "/tmp", "fuseblk", "/dev/sdz1"),
      line(12, "/tmp", "fuse", "anything"),
    ]);
    // sysfs: fakedisk1 is a partition of an SSD (rotational 0); dm-like vg-home has no queue: Unknown
    const sys = join(dir, "sys");
    const disk = join(sys, "devices", "virtual", "fakedisk");
    await mkdir(join(disk, "fakedisk1"), { recursive: true });
    await mkdir(join(disk, "queue"), { recursive: true });
    await writeFile(join(disk, "fakedisk1", "partition"), "1\n");
    await writeFile(join(disk, "queue", "rotational"), "0\n");
    await writeFile(join(disk, "removable"), "1\n");
    await mkdir(join(sys, "class", "block"), { recursive: true });
    await symlink(join(disk, "fakedisk1"), join(sys, "class", "block", "fakedisk1"));

    const reader = new DiskReader({ procRoot: proc, sysRoot: sys });
    assert.deepEqual(reader.current(), [], "nothing before the first reading: a scrape never waits for one");
    await reader.refresh();
    const disks = reader.current();
    assert.deepEqual(
      disks.map((d) => [d.mountPoint, d.fileSystem, d.name, d.type, d.removable]),
      [
        ["/", "ext4", "/dev/fakedisk1", "SSD", true],
        [dir, "btrfs", "/dev/mapper/vg-home", "Unknown", false],
      ],
    );
    for (const d of disks) {
      assert.ok(d.totalBytes > 0 && Number.isInteger(d.totalBytes), `${d.mountPoint}: ${d.totalBytes} bytes`);
      assert.ok(d.availableBytes >= 0 && d.availableBytes <= d.totalBytes);
    }
    const none = new DiskReader({ procRoot: join(dir, "nowhere"), sysRoot: sys });
    await none.refresh();
    assert.deepEqual(none.current(), [], "no mount table: no disks, no throw");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("5,000 bind mounts of one filesystem and 300 filesystems: sized once per filesystem, at most 128, said once", async () => {
  const lines = [line(1, "/", "ext4", "/dev/root", "254:1")];
  for (let i = 0; i < 5000; i++) lines.push(line(100 + i, `/var/lib/kubelet/pods/p${i}/volumes/v`, "ext4", "/dev/root", "254:1"));
  const one = diskMounts(lines.join("\n"));
  assert.deepEqual(
    one.mounts.map((m) => m.mountPoint),
    ["/"],
    "one filesystem: one series, at its first mount point",
  );
  assert.equal(one.dropped, 0);
  for (let i = 0; i < 300; i++) lines.push(line(9000 + i, `/srv/d${i}`, "xfs", `/dev/vd${i}`, `252:${i}`));
  const many = diskMounts(lines.join("\n"));
  assert.equal(many.mounts.length, 128);
  assert.equal(many.dropped, 173);

  const dir = await mkdtemp(join(tmpdir(), "scaph-disks-"));
  try {
    const { log, lines: logged } = logLines();
    const reader = new DiskReader({ procRoot: await procWith(dir, lines), sysRoot: join(dir, "sys"), log });
    await reader.refresh();
    await reader.refresh();
    const said = logged.filter((l) => /over 128 filesystems mounted: the first 128 are in the disk series, 173 more are not/.test(l));
    assert.equal(said.length, 1, logged.join("\n"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a filesystem whose statfs never answers: left out after the deadline, found among 40 by halving, said once, asked again alone until it answers", async () => {
  // STAND-IN: a filesystem whose statfs hangs needs root and FUSE (the system tier's
  // test/hostile/disk-hang.system.test.ts has the real one). Here `stat` is wrapped by a
  // script that hangs on the path named "hangs-here" until a file says it may answer,
  // and logs each path it is asked.
  const dir = await mkdtemp(join(tmpdir(), "scaph-disks-"));
  try {
    const asked = join(dir, "asked");
    const release = join(dir, "release");
    const wrapper = join(dir, "stat");
    await writeFile(
      wrapper,
      `#!/bin/sh\nfor a; do case "$a" in /*) echo "$a" >> ${asked};; esac; done\n` +
        `for a; do case "$a" in *hangs-here*) [ -e ${release} ] || exec sleep 1000;; esac; done\nexec stat "$@"\n`,
    );
    await chmod(wrapper, 0o755);
    const points: string[] = [];
    for (let i = 0; i < 40; i++) {
      const p = join(dir, i === 27 ? "hangs-here" : `m${i}`);
      await mkdir(p);
      points.push(p);
    }
    const proc = await procWith(
      dir,
      points.map((p, i) => line(i + 1, p, "ext4", `/dev/x${i}`)),
    );
    const { log, lines: logged } = logLines();
    const reader = new DiskReader({ procRoot: proc, sysRoot: join(dir, "sys"), log, statCommand: wrapper, statTimeoutMs: 300, retryMs: 0, maxAgeMs: 0 });

    await reader.refresh();
    const first = reader.current().map((d) => d.mountPoint);
    assert.equal(first.length, 39, "every other filesystem is in the series");
    assert.ok(!first.includes(points[27] as string));
    assert.deepEqual(reader.hung(), [points[27]]);
    const askedHung = async (): Promise<number> => (await readFile(asked, "utf8")).split("\n").filter((l) => l.endsWith("hangs-here")).length;
    const halvings = await askedHung();
    assert.ok(halvings >= 2 && halvings <= 8, `found in ${halvings} calls (log2 of 40 is under 6)`);

    // asked again alone at each reading (retry 0 here), never with the others; one WARN for it
    await reader.refresh();
    await reader.refresh();
    assert.equal(reader.current().length, 39);
    assert.ok((await askedHung()) <= halvings + 2, "a path that hangs is asked once a reading at most");
    const askedLines = (await readFile(asked, "utf8")).trim().split("\n");
    assert.ok(askedLines.filter((l) => l === points[0]).length >= 3, "the others are read at each reading");
    assert.equal(logged.filter((l) => /statfs of .*hangs-here did not answer in 300 ms: left out of the disk series/.test(l)).length, 1, logged.join("\n"));

    await writeFile(release, "");
    // its last probe's child (killed) must be gone before it is asked again: wait on state
    while (reader.current().length < 40) await reader.refresh();
    assert.deepEqual(reader.hung(), []);
    assert.equal(logged.filter((l) => /hangs-here answers again: back in the disk series/.test(l)).length, 1);
  } finally {
    // (a probe killed at its deadline may still be appending to `asked` as it dies: ENOTEMPTY, tried again)
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
});

test("no stat command: no disk series, said once, the reader goes on", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-disks-"));
  try {
    const { log, lines } = logLines();
    const reader = new DiskReader({
      procRoot: await procWith(dir, [line(1, dir, "ext4", "/dev/x")]),
      sysRoot: dir,
      log,
      statCommand: join(dir, "no-such-stat"),
    });
    await reader.refresh();
    await reader.refresh();
    assert.deepEqual(reader.current(), []);
    assert.equal(lines.filter((l) => /cannot run .*no-such-stat -f .*: no disk series \(install coreutils\)/.test(l)).length, 1, lines.join("\n"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
