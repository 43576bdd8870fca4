import { join } from "node:path";
import { readText } from "@scaph/common";

/** A VM's cgroup and how to read its CPU usage. */
export interface VmCgroup {
  /** Path inside the hierarchy, e.g. `/machine.slice/machine-qemu\x2d1\x2dweb.scope`. */
  path: string;
  version: 1 | 2;
}

/**
 * The domain-level cgroup of a qemu process, from /proc/PID/cgroup: libvirt
 * puts the emulator and vCPU threads in `<scope>/libvirt/{emulator,vcpuN,iothreadN}`,
 * so the domain cgroup (which also holds vhost and iothreads) is `<scope>`.
 * Only cgroups that belong to one VM are used (libvirt's machine.slice or
 * /machine, Proxmox's qemu.slice); anything else is null, and the caller
 * falls back to the process's own CPU time.
 */
export function vmCgroupFromProcFile(text: string): VmCgroup | null {
  let v2: string | null = null;
  let v1: string | null = null;
  for (const line of text.split("\n")) {
    const m = /^(?<id>\d+):(?<controllers>[^:]*):(?<path>.*)$/.exec(line.trim());
    if (!m?.groups) continue;
    const { id, controllers = "", path = "" } = m.groups;
    if (id === "0" && controllers === "") v2 = path;
    else if (controllers.split(",").includes("cpuacct")) v1 = path;
  }
  const pick = (p: string | null): string | null => {
    if (p === null) return null;
    const domain = p.replace(/\/libvirt(\/(emulator|vcpu\d+|iothread\d+))?$/, "");
    const isVm = /\/machine\.slice\/[^/]+\.scope$/.test(domain) || /^\/machine\/[^/]+$/.test(domain) || /\/qemu\.slice\/[^/]+\.scope$/.test(domain);
    return isVm ? domain : null;
  };
  const p1 = pick(v1);
  if (p1) return { path: p1, version: 1 };
  const p2 = pick(v2);
  return p2 ? { path: p2, version: 2 } : null;
}

/** `usage_usec` from a cgroup v2 cpu.stat. */
export function parseCpuStatUsageUsec(text: string): number | null {
  const m = /^usage_usec (\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * CPU time used by all tasks of a cgroup, µs: v2 `cpu.stat usage_usec`
 * (under the root or its `unified/` mount), v1 `cpuacct.usage` (ns). Null if
 * the cgroup cannot be read.
 */
export function readCgroupUsageUsec(cgroupRoot: string, cg: VmCgroup): number | null {
  const rel = cg.path.replace(/^\/+/, "");
  if (cg.version === 2) {
    for (const dir of [cgroupRoot, join(cgroupRoot, "unified")]) {
      try {
        const v = parseCpuStatUsageUsec(readText(join(dir, rel, "cpu.stat"), 4096, true));
        if (v !== null) return v;
      } catch {
        // try the next mount
      }
    }
    return null;
  }
  for (const ctl of ["cpuacct", "cpu,cpuacct", "cpuacct,cpu"]) {
    try {
      const t = readText(join(cgroupRoot, ctl, rel, "cpuacct.usage"), 64, true).trim();
      if (/^\d+$/.test(t)) return Math.floor(Number(t) / 1000);
    } catch {
      // try the next mount
    }
  }
  return null;
}
