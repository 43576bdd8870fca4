/**
 * `scaphandre`: Scaphandre's command, so that its unit files and scripts
 * (`ExecStart=/usr/bin/scaphandre prometheus`) run unchanged: scaph-host, or
 * scaph-guest when given Scaphandre's `--vm` (installed beside this one by
 * `npm install -g`, or on PATH).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const args = process.argv.slice(2);
if (args.includes("--vm")) {
  const beside = join(dirname(process.argv[1] ?? ""), "scaph-guest");
  const child = spawn(existsSync(beside) ? beside : "scaph-guest", args, { stdio: "inherit" });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => child.kill(sig));
  child.on("error", () => {
    process.stderr.write("scaphandre: --vm runs scaph-guest, which is not installed here (npm install -g @scaph/guest, or the scaph-guest package)\n");
    process.exitCode = 1;
  });
  child.on("exit", (code, signal) => {
    process.exitCode = code ?? (signal ? 128 : 1);
  });
} else {
  await import("./main.js");
}
