/**
 * A second libvirt host on this machine, for live migration between two
 * hosts: a libvirtd in a private mount namespace (`unshare -m
 * --propagation private`) with its own /run/libvirt, /var/lib/libvirt,
 * /var/cache/libvirt, /var/log/libvirt and a copy of /etc/libvirt, all
 * bind-mounted from a temporary directory; its own host_uuid (libvirt
 * refuses to migrate to a host with the same one); qemu's output to files
 * (no virtlogd) and no cgroup controllers (its domains' cgroups would have
 * the same names as host A's), no relabelling of the files both hosts
 * share (the guest's kernel and console). Its qemu runs as `qemuUser`, so that each
 * host's daemon can tell its own qemu processes (both hosts share /proc)
 * with --vm-user.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { appendFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { sleep, startBackground } from "./processes.js";
import type { Background } from "./processes.js";
import { requireCommand } from "@scaph/test-support";

export interface SecondLibvirtd {
  /** Its socket's URI, from host A's namespace. */
  uri: string;
  /** The pid of a process in its mount namespace (for nsenter). */
  nsPid: number;
  /** Runs a command in its mount namespace (where its paths are the usual ones). */
  run(cmd: string, args: readonly string[]): string;
  /** Starts a background process in its mount namespace. */
  start(cmd: string, args: readonly string[]): Background;
  /** virsh on this host. */
  virsh(...args: string[]): string;
  stop(): Promise<void>;
}

/**
 * Makes a system user (no login, no home) in the kvm group, as libvirt's qemu
 * users are, if it does not exist; returns its uid, and whether it was made
 * here (then whoever made it removes it at the end). (libvirt checks that its
 * qemu user may open /dev/kvm: where it may not, it probes qemu again at
 * every define and start.)
 */
export function ensureUser(name: string): { uid: number; created: boolean } {
  const uid = (): number => Number(execFileSync("id", ["-u", name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
  requireCommand("useradd", "passwd");
  let kvm = false;
  try {
    execFileSync("getent", ["group", "kvm"], { stdio: "ignore" });
    kvm = true;
  } catch {
    // no kvm group: nothing to join
  }
  let created = false;
  try {
    uid();
  } catch {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]);
    created = true;
  }
  if (kvm) execFileSync("usermod", ["-a", "-G", "kvm", name]);
  return { uid: uid(), created };
}

/** How the second libvirtd's namespace differs from a second host's. */
export interface SecondLibvirtdOptions {
  /**
   * Directories that exist only in its namespace: a tmpfs mounted there on
   * each (the first, /run/libvirt, holds its socket, which then only its
   * namespace and /proc/<pid>/root reach, as a KubeVirt pod's). Each path
   * must exist on the machine (an empty mount point).
   */
  privateDirs?: string[];
  /** cgroup.procs files its first process joins before libvirtd starts: its qemu is then in those cgroups. */
  cgroupProcs?: string[];
}

export async function startSecondLibvirtd(dir: string, qemuUser: string, options: SecondLibvirtdOptions = {}): Promise<SecondLibvirtd> {
  requireCommand("libvirtd", "libvirt-daemon-system");
  requireCommand("unshare", "util-linux");
  requireCommand("nsenter", "util-linux");
  const user = ensureUser(qemuUser);
  const privateDirs = options.privateDirs ?? [];
  const binds: [string, string][] = [
    ...(privateDirs.includes("/run/libvirt") ? [] : ([["run", "/run/libvirt"]] as [string, string][])),
    ["lib", "/var/lib/libvirt"],
    ["cache", "/var/cache/libvirt"],
    ["log", "/var/log/libvirt"],
    ["etc", "/etc/libvirt"],
  ];
  for (const [d] of binds) mkdirSync(join(dir, d), { recursive: true });
  execFileSync("cp", ["-a", "/etc/libvirt/.", join(dir, "etc")]);
  // Host A's configuration, not its domains: a domain host A has defined (one a killed run left) must not be
  // defined on host B too, where a migration of that name would find it there already.
  rmSync(join(dir, "etc", "qemu", "autostart"), { recursive: true, force: true });
  for (const f of readdirSync(join(dir, "etc", "qemu"))) if (f.endsWith(".xml")) rmSync(join(dir, "etc", "qemu", f));
  // Host A's probe of qemu's capabilities is valid here too (the same binaries): no second probe of half a minute.
  execFileSync("cp", ["-a", "/var/cache/libvirt/.", join(dir, "cache")]);
  for (const sub of ["qemu", "qemu/channel", "qemu/channel/target", "qemu/save", "qemu/snapshot", "qemu/dump", "qemu/ram", "qemu/nvram", "images", "boot"]) {
    mkdirSync(join(dir, "lib", sub), { recursive: true });
  }
  mkdirSync(join(dir, "log", "qemu"), { recursive: true });
  appendFileSync(join(dir, "etc", "libvirtd.conf"), `\nhost_uuid = "${randomUUID()}"\nunix_sock_group = "root"\n`);
  // Both hosts see the same files (the guest's kernel, its console): host B leaves their owners alone, as
  // hosts on shared storage are set up, else it would relabel a file host A's qemu has open.
  appendFileSync(
    join(dir, "etc", "qemu.conf"),
    `\nstdio_handler = "file"\ncgroup_controllers = [ ]\nuser = "${qemuUser}"\ngroup = "${qemuUser}"\ndynamic_ownership = 0\nremember_owner = 0\n`,
  );
  const pidFile = join(dir, "libvirtd.pid");
  // The namespace's first process mounts, then execs a holder that keeps the namespace while libvirtd runs.
  const script = [
    ...(options.cgroupProcs ?? []).map((f) => `echo $$ > '${f}'`),
    ...privateDirs.map((d) => `mount -t tmpfs -o mode=0755 scaph-pod '${d}'`),
    ...binds.map(([d, target]) => `mount --bind '${join(dir, d)}' '${target}'`),
    `exec libvirtd --pid-file '${pidFile}'`,
  ].join(" && ");
  const holder = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", script], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  holder.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  holder.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const nsPid = holder.pid as number;
  // a socket only its namespace has is asked through nsenter
  const inNs = privateDirs.includes("/run/libvirt");
  const uri = inNs ? "qemu:///system" : `qemu+unix:///system?socket=${join(dir, "run", "libvirt-sock")}`;
  const nsPidOf = (): number => holder.pid as number;
  const virsh = (...args: string[]): string =>
    inNs
      ? execFileSync("nsenter", ["-t", String(nsPidOf()), "-m", "--", "virsh", "-c", uri, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      : execFileSync("virsh", ["-c", uri, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      virsh("version");
      break;
    } catch (err) {
      if (holder.exitCode !== null || Date.now() > end) {
        holder.kill("SIGKILL");
        throw new Error(`the second libvirtd did not start: ${out || String(err)}`);
      }
      await sleep(200);
    }
  }
  const ns = (cmd: string, args: readonly string[]): [string, string[]] => ["nsenter", ["-t", String(nsPid), "-m", "--", cmd, ...args]];
  return {
    uri,
    nsPid,
    virsh,
    run(cmd, args) {
      const [c, a] = ns(cmd, args);
      return execFileSync(c, a, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    },
    start(cmd, args) {
      const [c, a] = ns(cmd, args);
      return startBackground(c, a);
    },
    async stop() {
      try {
        for (const name of virsh("list", "--name").split("\n").filter(Boolean)) virsh("destroy", name);
      } catch {
        // nothing running, or it is gone
      }
      holder.kill("SIGTERM");
      const t = setTimeout(() => holder.kill("SIGKILL"), 10_000);
      if (holder.exitCode === null) await new Promise((r) => holder.once("exit", r));
      clearTimeout(t);
      // the qemu user made for this host goes with it (its qemu processes ended with the domains)
      if (user.created) spawnSync("userdel", [qemuUser], { stdio: "ignore" });
    },
  };
}
