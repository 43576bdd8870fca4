/** Helpers for the hostile suite: a daemon on fixture roots, memory watching, trees that fight back. */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, removeTree } from "@scaph/test-support";
import { guestBin, hostBin } from "../helpers/cli.js";
import { sleep, startBackground, waitFor } from "../helpers/processes.js";
import type { Background } from "../helpers/processes.js";

/** The owners of the fixture qemu processes (fixtures/proc/qemu/PID/status). */
export const FIXTURE_VM_USERS = ["64055", "107"];

/** A `scaph-host qemu` daemon over fixture /proc, powercap and cgroup trees, with its own base dir. */
export interface FixtureDaemon {
  dir: string;
  base: string;
  proc: string;
  powercap: string;
  cgroup: string;
  start(extra?: readonly string[], env?: NodeJS.ProcessEnv): Background;
  /** The daemon's status file's timestamp, or 0. */
  statusTime(): Promise<number>;
  /** Waits until the daemon has written `n` more steps. */
  steps(n: number, timeoutMs?: number): Promise<void>;
  cleanup(): Promise<void>;
}

export async function fixtureDaemon(): Promise<FixtureDaemon> {
  const dir = await mkdtemp(join(tmpdir(), "scaph-hostile-"));
  const base = join(dir, "base");
  const proc = await copyFixture("proc/qemu");
  const powercap = await copyFixture("powercap/intel-1socket");
  const cgroup = await copyFixture("cgroup/qemu");
  const d: FixtureDaemon = {
    dir,
    base,
    proc,
    powercap,
    cgroup,
    start(extra = [], env = process.env) {
      return startBackground(
        process.execPath,
        [
          hostBin,
          "-v",
          "qemu",
          "--no-libvirt",
          "--base-dir",
          base,
          "--step",
          "0.2",
          "--procfs-path",
          proc,
          "--powercap-path",
          powercap,
          "--cgroup-path",
          cgroup,
          "--vm-user",
          ...FIXTURE_VM_USERS,
          ...extra,
        ],
        env,
      );
    },
    async statusTime() {
      try {
        return (JSON.parse(await readFile(join(base, ".scaph-status.json"), "utf8")) as { timestamp_s: number }).timestamp_s;
      } catch {
        return 0;
      }
    },
    async steps(n, timeoutMs = 15_000) {
      let seen = await d.statusTime();
      for (let i = 0; i < n; i++) {
        const before = seen;
        seen = await waitFor(
          `step ${i + 1} of ${n} of the daemon`,
          async () => {
            const t = await d.statusTime();
            return t > before ? t : null;
          },
          timeoutMs,
        );
      }
    },
    async cleanup() {
      await removeTree(proc);
      await removeTree(powercap);
      await removeTree(cgroup);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return d;
}

/** Files named like scaph's temporaries anywhere under `dir`. */
export async function leftoverTemps(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.name.endsWith(".scaph-tmp") || /\.tmp$/.test(e.name)) found.push(join(d, e.name));
      if (e.isDirectory()) await walk(join(d, e.name));
    }
  };
  await walk(dir);
  return found;
}

/** Polls a process's peak RSS (VmHWM, KiB → bytes) until it exits; returns the last value seen. */
export function watchPeakRss(pid: number): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const m = /^VmHWM:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, "utf8"));
        if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      } catch {
        return;
      }
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** Ends a background process with SIGTERM and says how long it took, ms. */
/**
 * Stops `bg` with `signal` and says how long it took (a number reported, not
 * a bound: a busy machine is slower). A process that does not end by itself
 * is killed after 5 s, and its code is then null: the callers' `code === 0`
 * is the check that it stopped on its own.
 */
export async function timedStop(bg: Background, signal: NodeJS.Signals = "SIGTERM"): Promise<{ ms: number; code: number | null }> {
  const t0 = Date.now();
  const code = await bg.stop(signal);
  const ms = Date.now() - t0;
  console.log(`# ${signal}: stopped in ${ms} ms, exit code ${code}`);
  return { ms, code };
}

/** mkfifo(1), a FIFO at `path`. */
export function mkfifo(path: string): void {
  execFileSync("mkfifo", [path], { stdio: "pipe" }); // its complaint in the error thrown, not on the test's stderr
}

/** A bound on the guest's peak RSS while it reads a hostile tree (an idle Node 20 is about 40 MB). */
export const RSS_BOUND = 120 * 1024 * 1024;

export interface GuestRun {
  code: number | null;
  stdout: string;
  stderr: string;
  peakRss: number;
  ms: number;
}

/** scaph-guest json -t SECONDS on `tree`, with a hard deadline; watches its peak RSS. */
export async function guestJson(tree: string, seconds: number, env: NodeJS.ProcessEnv = process.env): Promise<GuestRun> {
  const t0 = Date.now();
  const bg = startBackground(process.execPath, [guestBin, "json", "-t", String(seconds), "-s", "0.5", "--no-wait", "--powercap-path", tree], env);
  const rss = watchPeakRss(bg.child.pid as number);
  let out = "";
  bg.child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  const deadline = setTimeout(() => bg.child.kill("SIGKILL"), (seconds + 10) * 1000);
  const code = await new Promise<number | null>((r) => bg.child.on("exit", (c) => r(c)));
  clearTimeout(deadline);
  const peakRss = await rss.stop();
  return { code, stdout: out, stderr: bg.output().replace(out, ""), peakRss, ms: Date.now() - t0 };
}

/** Runs `f` on a copy of fixtures/powercap/vm-tree, removed after. */
export async function withTree(f: (tree: string) => Promise<void>): Promise<void> {
  const tree = await copyFixture("powercap/vm-tree");
  try {
    await f(tree);
  } finally {
    await removeTree(tree);
  }
}
