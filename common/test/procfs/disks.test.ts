import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readDisks } from "../../src/procfs/disks.js";

/** A mountinfo line (the fields readDisks reads: mount point, type, source). */
const line = (id: number, mountPoint: string, fsType: string, source: string): string =>
  `${id} 1 8:1 / ${mountPoint.replace(/ /g, "\\040")} rw,relatime shared:1 - ${fsType} ${source} rw`;

test("disks: the filesystems that hold data, once each, sized by statfs, typed from sysfs; pseudo, network, unreadable ones left out", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-disks-"));
  try {
    const proc = join(dir, "proc");
    await mkdir(join(proc, "self"), { recursive: true });
    await writeFile(
      join(proc, "self", "mountinfo"),
      [
        line(1, "/", "ext4", "/dev/fakedisk1"),
        line(2, "/proc", "proc", "proc"),
        line(3, "/sys/fs/cgroup", "cgroup2", "cgroup2"),
        line(4, "/run/user/0", "tmpfs", "tmpfs"),
        line(5, "/mnt/share", "nfs4", "server:/export"),
        line(6, "/nonexistent/data", "xfs", "/dev/fakedisk2"),
        line(7, "/", "ext4", "/dev/fakedisk1"),
        line(8, dir, "btrfs", "/dev/mapper/vg-home"),
        "",
      ].join("\n"),
    );
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

    const disks = readDisks({ procRoot: proc, sysRoot: sys });
    assert.deepEqual(disks.map((d) => [d.mountPoint, d.fileSystem, d.name, d.type, d.removable]), [
      ["/", "ext4", "/dev/fakedisk1", "SSD", true],
      [dir, "btrfs", "/dev/mapper/vg-home", "Unknown", false],
    ]);
    for (const d of disks) {
      assert.ok(d.totalBytes > 0 && Number.isInteger(d.totalBytes), `${d.mountPoint}: ${d.totalBytes} bytes`);
      assert.ok(d.availableBytes >= 0 && d.availableBytes <= d.totalBytes);
    }
    assert.deepEqual(readDisks({ procRoot: join(dir, "nowhere"), sysRoot: sys }), [], "no mount table: no disks, no throw");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
