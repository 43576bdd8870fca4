/**
 * The Debian packages the lab drives. test/prepare.mjs (run by every npm
 * test command) installs them with the rest; this is for the lab's own CLI.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../helpers/cli.js";

export const LAB_PACKAGES = ["libvirt-daemon-system", "libvirt-clients", "qemu-system-x86", "busybox-static", "dpkg"] as const;

/** Installs the missing packages through test/prepare.mjs; fails with its message (not root, apt-get failing). */
export function ensurePackages(packages: readonly string[] = LAB_PACKAGES): void {
  const r = spawnSync(process.execPath, [join(repoRoot, "test/prepare.mjs"), ...packages], { encoding: "utf8" });
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.status !== 0) throw new Error((r.stderr || r.stdout).trim());
}
