import { execFileSync } from "node:child_process";
import { readBounded, ScaphError } from "@scaph/common";
import type { Logger } from "@scaph/common";
import type { DiscoveryPolicy } from "./discover.js";
import { isSafeDirName } from "../vm/names.js";

/** Where libvirt's qemu driver keeps its configuration and its pid files (Debian, RHEL). */
export const DEFAULT_QEMU_CONF = "/etc/libvirt/qemu.conf";
export const DEFAULT_LIBVIRT_RUN_DIR = "/run/libvirt/qemu";
/** The qemu users of Debian/Ubuntu (libvirt-qemu) and RHEL/Fedora (qemu) libvirt. */
export const DEFAULT_VM_USERS = ["libvirt-qemu", "qemu"];
export const DEFAULT_MAX_VMS = 1024;

/** The uid of a user name (through NSS, `getent passwd`), or of a number; null if unknown. */
export function uidOf(user: string): number | null {
  if (/^\d+$/.test(user)) return Number(user);
  try {
    const line = execFileSync("getent", ["passwd", user], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5000 });
    const uid = Number(line.split(":")[2]);
    return Number.isInteger(uid) ? uid : null;
  } catch {
    return null;
  }
}

/** The `user = "NAME"` of libvirt's qemu.conf, or null (commented out, unreadable). */
export function qemuConfUser(text: string): string | null {
  const m = /^\s*user\s*=\s*"([^"]+)"/m.exec(text);
  return m ? (m[1] as string).replace(/^\+/, "") : null;
}

/**
 * The uids that may run VMs: root, and the users given with --vm-user; by
 * default the `user` of libvirt's qemu.conf where readable, and libvirt-qemu
 * and qemu where they exist.
 */
export function allowedUids(vmUsers: readonly string[] | undefined, qemuConf: string, log: Logger): Set<number> {
  const uids = new Set<number>([0]);
  let names: string[];
  if (vmUsers && vmUsers.length > 0) {
    names = [...vmUsers];
    for (const u of names) if (uidOf(u) === null) throw new ScaphError(`--vm-user ${JSON.stringify(u)}: no such user`);
  } else {
    const r = readBounded(qemuConf, 256 * 1024);
    const fromConf = r.ok ? qemuConfUser(r.text) : null;
    names = [...(fromConf ? [fromConf] : []), ...DEFAULT_VM_USERS];
  }
  for (const u of names) {
    const uid = uidOf(u);
    if (uid !== null) uids.add(uid);
  }
  log.info(`qemu: VMs are processes of a qemu binary run by uid ${[...uids].join(", ")} (root${names.length ? `, ${names.join(", ")}` : ""})`);
  return uids;
}

/** libvirt's pid of a running domain, from `<runDir>/<name>.pid` (written by libvirtd, root's), or null. */
export function libvirtPidReader(runDir: string): (domain: string) => number | null {
  return (domain) => {
    if (!isSafeDirName(domain)) return null;
    const r = readBounded(`${runDir}/${domain}.pid`, 32);
    if (!r.ok) return null;
    const t = r.text.trim();
    return /^\d{1,10}$/.test(t) ? Number(t) : null;
  };
}

export function discoveryPolicy(options: { vmUser?: string[]; qemuConf: string; libvirtRunDir: string; maxVms: number }, log: Logger): DiscoveryPolicy {
  return { allowedUids: allowedUids(options.vmUser, options.qemuConf, log), maxVms: options.maxVms, libvirtPid: libvirtPidReader(options.libvirtRunDir) };
}
