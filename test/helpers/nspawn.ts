/**
 * A Debian 12 system under a real systemd, for the packages' units: a
 * minbase root filesystem made by mmdebstrap (cached, like the lab's
 * kernel), booted by systemd-nspawn with a throwaway overlay on top (the
 * cache stays as built), and commands run inside it with nsenter.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "./processes.js";
import { requireCommand } from "@scaph/test-support";

const CACHE = join(process.env.SCAPH_LAB_CACHE ?? "/var/cache/scaph-lab", "nspawn");

/**
 * What the root filesystem holds besides minbase: systemd as PID 1, and what the packages depend on,
 * so that `apt install ./pkg.deb` needs no network.
 */
const INCLUDE = ["systemd", "systemd-sysv", "dbus", "libvirt0", "procps"];

/** The cached Debian 12 root filesystem (built on first use, about a minute). */
export function debianRoot(): { dir: string; about: string } {
  const key = createHash("sha256")
    .update(`bookworm minbase ${INCLUDE.join(",")}`)
    .digest("hex")
    .slice(0, 12);
  const dir = join(CACHE, `bookworm-${key}`);
  if (existsSync(join(dir, "usr/lib/systemd/systemd"))) return { dir, about: `root filesystem from the cache (${dir})` };
  const mm = requireCommand("mmdebstrap", "mmdebstrap");
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const t0 = Date.now();
  const r = spawnSync(mm, ["--variant=minbase", `--include=${INCLUDE.join(",")}`, "bookworm", tmp], { encoding: "utf8", timeout: 900_000 });
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`mmdebstrap failed (it needs Debian's mirror, as apt-get does): ${(r.stderr ?? "").split("\n").slice(-15).join("\n")}`);
  }
  renameSync(tmp, dir);
  return { dir, about: `root filesystem built by mmdebstrap in ${((Date.now() - t0) / 1000).toFixed(0)} s (${dir})` };
}

/** A booted container. */
export interface Container {
  /** The container's PID 1, as seen from here. */
  init: number;
  /** Runs a command inside (all of its namespaces); never throws. */
  run(cmd: string, args?: readonly string[], input?: string): { code: number; stdout: string; stderr: string };
  /** The same as run(), without blocking this process (a simulator that ticks here goes on ticking). */
  exec(cmd: string, args?: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs a command inside, and fails with its output unless it exits 0; returns its stdout. */
  ok(cmd: string, args?: readonly string[]): string;
  /** A path inside the container, from here (through /proc/PID/root). */
  path(p: string): string;
  /** Seconds from start to `systemctl is-system-running` answering running. */
  bootS: number;
  stop(): Promise<void>;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const c = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim();
    if (c) out.push(...c.split(/\s+/).map(Number));
  }
  return out;
}

/**
 * Boots `root` under systemd-nspawn (no registration with machined, the
 * host's network, an overlay on a tmpfs over the root) with `binds`
 * (host path → container path), and waits until systemd says the system runs.
 */
export async function bootContainer(root: string, binds: Record<string, string> = {}, roBinds: Record<string, string> = {}): Promise<Container> {
  const nspawn = requireCommand("systemd-nspawn", "systemd-container");
  const t0 = Date.now();
  const args = [
    "-D",
    root,
    "--boot",
    "--register=no",
    "--keep-unit",
    "--volatile=overlay",
    "--quiet",
    `--machine=scaph-test-${process.pid}`,
    ...Object.entries(binds).map(([h, c]) => `--bind=${h}:${c}`),
    ...Object.entries(roBinds).map(([h, c]) => `--bind-ro=${h}:${c}`),
  ];
  const child: ChildProcess = spawn(nspawn, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-8192)));
  child.stderr?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-8192)));
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  const pid = child.pid ?? 0;
  const init = await waitFor(
    "the container's systemd",
    () => {
      if (child.exitCode !== null) throw new Error(`systemd-nspawn ended: ${log}`);
      const c = childrenOf(pid).find((p) => /systemd$/.test(readFileSync(`/proc/${p}/comm`, "utf8").trim()));
      return c ?? null;
    },
    60_000,
  );
  const enter = (cmd: string, a: readonly string[]): string[] => ["-t", String(init), "-m", "-u", "-i", "-n", "-p", "--", cmd, ...a];
  const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", DEBIAN_FRONTEND: "noninteractive", SYSTEMD_PAGER: "" };
  const run = (cmd: string, a: readonly string[] = [], input?: string): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync("nsenter", enter(cmd, a), { encoding: "utf8", input, env, timeout: 300_000 });
    return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
  const c: Container = {
    init,
    run,
    exec: (cmd, a = []) =>
      new Promise((resolve) => {
        execFile("nsenter", enter(cmd, a), { encoding: "utf8", env, timeout: 300_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
        );
      }),
    ok(cmd, a = []) {
      const r = run(cmd, a);
      if (r.code !== 0) throw new Error(`in the container, ${[cmd, ...a].join(" ")} exited ${r.code}:\n${r.stdout}${r.stderr}`);
      return r.stdout;
    },
    path: (p) => `/proc/${init}/root${p}`,
    bootS: 0,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM"); // nspawn asks systemd to power off
      const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(t);
    },
  };
  try {
    await waitFor(
      "the container's systemd to reach its default target",
      () => {
        const s = run("systemctl", ["is-system-running", "--wait"]).stdout.trim();
        if (s === "running") return true;
        if (s === "degraded") throw new Error(`the container booted degraded:\n${run("systemctl", ["--failed", "--no-legend"]).stdout}`);
        return null;
      },
      120_000,
    );
  } catch (err) {
    await c.stop();
    throw err;
  }
  c.bootS = (Date.now() - t0) / 1000;
  return c;
}

/** The kernel's capability numbers, by name (linux/capability.h), for reading /proc/PID/status masks. */
const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** The capabilities of a /proc/PID/status mask (hex), by name, sorted. */
export function capabilityNames(hex: string): string[] {
  const v = BigInt(`0x${hex}`);
  const out: string[] = [];
  for (let b = 0; b < 64; b++) if ((v >> BigInt(b)) & 1n) out.push(CAPABILITIES[b] ?? `capability ${b}`);
  return out.sort();
}
