/**
 * What a lab run killed midway (a deadline, Ctrl-C) leaves behind, removed
 * before a lab starts: its domains on this machine's libvirt (running,
 * saved or defined), the processes it started (daemons, host B's libvirtd
 * and qemu, whose command lines name a lab directory), and the mounts under
 * its directories. Every lab makes its directory as `<tmpdir>/scaph-lab-*`.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const LAB_DIRS = join(tmpdir(), "scaph-lab-");

const read = (p: string): string => {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
};

/** Removes the leftovers of earlier lab runs; returns what it removed, a line each (empty when there was none). */
export function removeLeftovers(domains: readonly string[], virsh: (...args: string[]) => string): string[] {
  const removed: string[] = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)) {
    const argv = read(`/proc/${pid}/cmdline`).split("\0");
    const guest = argv
      .find((a) => a.startsWith("guest="))
      ?.slice(6)
      .split(",")[0];
    if (!argv.some((a) => a.includes(LAB_DIRS)) && !(guest && domains.includes(guest))) continue;
    try {
      process.kill(Number(pid), "SIGKILL");
      removed.push(`killed pid ${pid}: ${argv.join(" ").slice(0, 120)}`);
    } catch {
      // gone already
    }
  }
  const mounts = read("/proc/self/mountinfo")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(LAB_DIRS))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    spawnSync("umount", ["--lazy", m], { stdio: "ignore" });
    removed.push(`unmounted ${m}`);
  }
  const known = (): string[] =>
    virsh("list", "--all", "--name")
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
  for (const d of domains.filter((n) => known().includes(n))) {
    for (const args of [
      ["destroy", d],
      ["undefine", "--managed-save", "--snapshots-metadata", d],
    ]) {
      try {
        virsh(...args);
      } catch {
        // not running, or not defined: nothing to undo
      }
    }
    removed.push(`removed domain ${d}`);
  }
  return removed;
}
