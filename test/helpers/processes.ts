import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { writeFile } from "node:fs/promises";
import { after } from "node:test";
import { requireCommand } from "@scaph/test-support";

/** A background process that a test owns; stop() ends it and waits. */
export interface Background {
  child: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a process the test owns. With `group`, it leads a process group of
 * its own, and stop() signals the whole group: whatever it started (a demo's
 * VM, daemon and guest) ends with it, even when it is killed.
 */
export function startBackground(
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  as: { argv0?: string; uid?: number; gid?: number; group?: boolean } = {},
): Background {
  const { group, ...ids } = as;
  const child = spawn(cmd, [...args], { env, stdio: ["ignore", "pipe", "pipe"], ...ids, ...(group ? { detached: true } : {}) });
  const signal = (sig: NodeJS.Signals): void => {
    try {
      if (group && child.pid) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return {
    child,
    output: () => out,
    async stop(sig = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) signal(sig);
      const t = setTimeout(() => signal("SIGKILL"), 5000);
      const code = await exited;
      clearTimeout(t);
      if (group) signal("SIGKILL"); // what it left behind, if anything
      return code;
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// (waitFor lives in @scaph/test-support: one for every package's tests)
export { waitFor } from "@scaph/test-support";

/** A 512-byte boot sector that spins forever (`jmp $`): a guest that burns one CPU under TCG. */
export async function writeBusyBootSector(path: string): Promise<void> {
  const b = Buffer.alloc(512);
  b[0] = 0xeb;
  b[1] = 0xfe;
  b[510] = 0x55;
  b[511] = 0xaa;
  await writeFile(path, b);
}

/** A real qemu-system-x86_64 VM named NAME that burns CPU. */
export function startBusyQemu(name: string, bootImage: string, uuid?: string): Background {
  const qemu = requireCommand("qemu-system-x86_64", "qemu-system-x86");
  return startBackground(qemu, [
    "-name",
    `guest=${name},debug-threads=on`,
    ...(uuid ? ["-uuid", uuid] : []),
    "-machine",
    "pc",
    "-accel",
    "tcg",
    "-display",
    "none",
    "-nodefaults",
    "-m",
    "16",
    "-drive",
    `file=${bootImage},format=raw,if=ide`,
    "-no-reboot",
  ]);
}

/**
 * What a test file starts and makes, undone after its tests, the last first:
 * `stops.push(f)` for a clean-up, `bg(b)` for a background process (its stop).
 */
export function cleanupsAfterFile(): { stops: (() => unknown)[]; bg: (b: Background) => Background } {
  const stops: (() => unknown)[] = [];
  after(async () => {
    for (const s of stops.reverse()) await s();
  });
  return {
    stops,
    bg: (b) => {
      stops.push(() => b.stop());
      return b;
    },
  };
}
