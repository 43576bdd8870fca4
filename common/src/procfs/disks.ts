import { readFileSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseMountinfo } from "./mountinfo.js";
import type { FsSize } from "./statfs.js";

/** A mounted filesystem, as Scaphandre 1.0 reports it (its sysinfo library's disks). */
export interface DiskStats {
  /** What is mounted: the device (`/dev/sda1`), or the source named in the mount table. */
  name: string;
  mountPoint: string;
  /** The filesystem type (`ext4`, `xfs`). */
  fileSystem: string;
  /** From the block device's queue/rotational. */
  type: "SSD" | "HDD" | "Unknown";
  removable: boolean;
  totalBytes: number;
  availableBytes: number;
}

/**
 * Filesystems that hold no user data (as sysinfo skips them), and network
 * ones: statfs on a hard-mounted NFS or CIFS share whose server is gone
 * blocks.
 */
const SKIPPED_TYPES = new Set([
  "rootfs",
  "sysfs",
  "proc",
  "devtmpfs",
  "devpts",
  "tmpfs",
  "ramfs",
  "cgroup",
  "cgroup2",
  "pstore",
  "squashfs",
  "rpc_pipefs",
  "iso9660",
  "nsfs",
  "autofs",
  "mqueue",
  "hugetlbfs",
  "debugfs",
  "tracefs",
  "securityfs",
  "fusectl",
  "configfs",
  "bpf",
  "binfmt_misc",
  "efivarfs",
  "selinuxfs",
  "overlay",
  "nfs",
  "nfs4",
  "cifs",
  "smb3",
  "smbfs",
  "ceph",
  "glusterfs",
  "9p",
  "virtiofs",
  "afs",
  "lustre",
]);
/**
 * FUSE filesystems (`fuse`, `fuseblk`, `fuse.sshfs`, `fuse.rclone`...):
 * any user may mount one (fusermount is setuid), and its statfs is
 * answered by that user's process, or never.
 */
const isFuse = (fsType: string): boolean => fsType === "fuse" || fsType === "fuseblk" || fsType.startsWith("fuse.");
const SKIPPED_PREFIXES = ["/proc", "/sys", "/dev"];

/** At most this many filesystems are sized (a container host has thousands of bind mounts; its disks are a few). */
export const MAX_DISK_FILESYSTEMS = 128;

/** A mounted filesystem worth sizing, before statfs. */
export interface DiskMount {
  name: string;
  mountPoint: string;
  fileSystem: string;
}

/**
 * The filesystems of a mount table that hold data, each once: bind mounts
 * of one filesystem (one `major:minor`) count at its first mount point.
 * `dropped`: how many more there were past `max`.
 */
export function diskMounts(mountinfo: string, max = MAX_DISK_FILESYSTEMS): { mounts: DiskMount[]; dropped: number } {
  const mounts: DiskMount[] = [];
  const devices = new Set<string>();
  const points = new Set<string>();
  let dropped = 0;
  for (const m of parseMountinfo(mountinfo)) {
    if (SKIPPED_TYPES.has(m.fsType) || isFuse(m.fsType) || SKIPPED_PREFIXES.some((p) => m.mountPoint === p || m.mountPoint.startsWith(`${p}/`))) continue;
    if (m.mountPoint.startsWith("/run/") && !m.mountPoint.startsWith("/run/media/")) continue;
    if (m.mountPoint.includes("\n") || devices.has(m.device) || points.has(m.mountPoint)) continue;
    if (mounts.length >= max) {
      dropped++;
      continue;
    }
    devices.add(m.device);
    points.add(m.mountPoint);
    mounts.push({ name: m.source, mountPoint: m.mountPoint, fileSystem: m.fsType });
  }
  return { mounts, dropped };
}

/** A mounted filesystem with its size, typed from sysfs (`sysRoot`/class/block). */
export function diskStats(m: DiskMount, size: FsSize, sysRoot: string): DiskStats {
  const disk = m.name.startsWith("/dev/") ? diskOf(basename(realpathOr(m.name)), sysRoot) : null;
  const rotational = disk ? readFlag(join(disk, "queue", "rotational")) : null;
  return {
    name: m.name,
    mountPoint: m.mountPoint,
    fileSystem: m.fileSystem,
    type: rotational === "0" ? "SSD" : rotational === "1" ? "HDD" : "Unknown",
    removable: (disk ? readFlag(join(disk, "removable")) : null) === "1",
    ...size,
  };
}

/** The disk behind a block device's name (`sda1` → `sda`, `dm-0` → itself), under `sysRoot`/class/block. */
function diskOf(dev: string, sysRoot: string): string | null {
  try {
    const real = realpathSync(join(sysRoot, "class", "block", dev));
    try {
      readFileSync(join(real, "partition"));
      return join(dirname(real));
    } catch {
      return real;
    }
  } catch {
    return null;
  }
}

function readFlag(path: string): string | null {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}
