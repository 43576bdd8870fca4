import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const guestBin = fileURLToPath(new URL("../../bin/scaph-guest.js", import.meta.url));

/** scaph-guest json --no-wait on `tree` (no channel): its exit code and stderr. */
export function noWait(tree: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [guestBin, "json", "--no-wait", "--no-channel", "--powercap-path", tree, "-t", "1"], (err, _out, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stderr });
    });
  });
}
