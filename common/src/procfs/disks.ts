import { readFileSync, realpathSync, statfsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseMountinfo } from "./mountinfo.js";

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
 * blocks, and the exporter must never block.
 */
const SKIPPED_TYPES = new Set([
  "rootfs", "sysfs", "proc", "devtmpfs", "devpts", "tmpfs", "ramfs", "cgroup", "cgroup2", "pstore", "squashfs", "rpc_pipefs",
  "iso9660", "nsfs", "autofs", "mqueue", "hugetlbfs", "debugfs", "tracefs", "securityfs", "fusectl", "configfs", "bpf",
  "binfmt_misc", "efivarfs", "selinuxfs", "overlay",
  "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "fuse.sshfs", "9p", "virtiofs", "afs", "lustre",
]);
const SKIPPED_PREFIXES = ["/proc", "/sys", "/dev"];

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

/**
 * The mounted filesystems of this mount namespace (`procRoot`/self/mountinfo)
 * that hold data, each once, with their size from statfs. One that cannot be
 * read is left out.
 */
export function readDisks(roots: { procRoot: string; sysRoot: string }): DiskStats[] {
  let text: string;
  try {
    text = readFileSync(join(roots.procRoot, "self", "mountinfo"), "utf8");
  } catch {
    return [];
  }
  const out: DiskStats[] = [];
  const seen = new Set<string>();
  for (const m of parseMountinfo(text)) {
    if (SKIPPED_TYPES.has(m.fsType) || SKIPPED_PREFIXES.some((p) => m.mountPoint === p || m.mountPoint.startsWith(`${p}/`))) continue;
    if (m.mountPoint.startsWith("/run/") && !m.mountPoint.startsWith("/run/media/")) continue;
    if (seen.has(m.mountPoint)) continue;
    let st: { bsize: number; blocks: number; bavail: number };
    try {
      st = statfsSync(m.mountPoint);
    } catch {
      continue;
    }
    seen.add(m.mountPoint);
    const disk = m.source.startsWith("/dev/") ? diskOf(basename(realpathOr(m.source)), roots.sysRoot) : null;
    const rotational = disk ? readFlag(join(disk, "queue", "rotational")) : null;
    out.push({
      name: m.source,
      mountPoint: m.mountPoint,
      fileSystem: m.fsType,
      type: rotational === "0" ? "SSD" : rotational === "1" ? "HDD" : "Unknown",
      removable: (disk ? readFlag(join(disk, "removable")) : null) === "1",
      totalBytes: st.blocks * st.bsize,
      availableBytes: st.bavail * st.bsize,
    });
  }
  return out;
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}
