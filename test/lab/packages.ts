/**
 * The Debian packages the lab drives, installed with apt-get when missing
 * (as root), so `npm run test:lab` works on a bare Debian machine.
 */
import { execFileSync } from "node:child_process";

export const LAB_PACKAGES = ["libvirt-daemon-system", "libvirt-clients", "qemu-system-x86", "busybox-static", "dpkg"] as const;

function installed(pkg: string): boolean {
  try {
    return execFileSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).includes("install ok installed");
  } catch {
    return false;
  }
}

/** Installs the missing packages; returns their names. Fails naming them when not root or when apt-get fails. */
export function ensurePackages(packages: readonly string[] = LAB_PACKAGES): string[] {
  const missing = packages.filter((p) => !installed(p));
  if (missing.length === 0) return [];
  const cmd = `apt-get install --no-install-recommends ${missing.join(" ")}`;
  if (process.getuid?.() !== 0) throw new Error(`the lab needs ${missing.join(", ")}: run as root, or ${cmd}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  try {
    execFileSync("apt-get", ["update", "-qq"], { env, stdio: ["ignore", "pipe", "pipe"] });
    execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env, stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    throw new Error(`${cmd} failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
  }
  return missing;
}
