import { execFile } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is test/dist/helpers/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const hostBin = resolve(repoRoot, "host/bin/scaph-host.js");
export const guestBin = resolve(repoRoot, "guest/bin/scaph-guest.js");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a built CLI with node; never rejects, returns the exit code. */
export function runNode(
  bin: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; wrapper?: readonly string[] } = {},
): Promise<RunResult> {
  const wrapper = options.wrapper ?? [];
  const [cmd, ...pre] = wrapper.length > 0 ? [...wrapper, process.execPath] : [process.execPath];
  return new Promise((resolvePromise) => {
    execFile(
      cmd,
      [...pre, bin, ...args],
      { timeout: options.timeoutMs ?? 60_000, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}
