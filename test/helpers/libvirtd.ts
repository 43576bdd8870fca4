import { execFileSync } from "node:child_process";
import { access, chmod, chown, readFile } from "node:fs/promises";
import { sleep } from "./processes.js";
import { requireCommand } from "@scaph/test-support";

/** A running libvirtd; stop() ends it only if this helper started it. */
export interface Libvirtd {
  uri: string;
  startedHere: boolean;
  stop(): Promise<void>;
}

const SOCKET = "/var/run/libvirt/libvirt-sock";

async function alive(): Promise<boolean> {
  try {
    execFileSync("virsh", ["-c", "qemu:///system", "version"], { stdio: "ignore", timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

async function pidOf(file: string): Promise<number | null> {
  const t = await readFile(file, "utf8").catch(() => "");
  return /^\d+/.test(t.trim()) ? Number(t.trim()) : null;
}

/**
 * Starts virtlogd and libvirtd by hand (no systemd on these machines), after
 * giving /dev/kvm to the kvm group (no udev either). Fails naming the Debian
 * package when a component is missing.
 */
export async function ensureLibvirtd(): Promise<Libvirtd> {
  requireCommand("libvirtd", "libvirt-daemon-system");
  requireCommand("virsh", "libvirt-clients");
  requireCommand("qemu-system-x86_64", "qemu-system-x86");
  // Even when libvirtd already runs: libvirt probes qemu with /dev/kvm open, then checks that the qemu user
  // may open it; where it may not, every cached probe is "outdated" and each define or start probes again
  // (half a minute here).
  await grantKvm();
  if (await alive()) return { uri: "qemu:///system", startedHere: false, stop: async () => {} };
  const failures: string[] = [];
  for (const d of ["virtlogd", "libvirtd"]) {
    try {
      execFileSync(d, ["-d"], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      // An instance may already run (the other daemon was the one missing); the wait below decides.
      failures.push(`${d} -d: ${String((err as { stderr?: string }).stderr ?? err).trim()}`);
    }
  }
  const end = Date.now() + (failures.some((f) => f.startsWith("libvirtd")) ? 3000 : 30_000);
  while (!(await alive())) {
    if (Date.now() > end) {
      const why = failures.join("\n");
      const hint = /libvirt\.so\.0/.test(why) ? "\n  libvirt.so.0 cannot be loaded: install (or repair) the Debian package libvirt0" : "";
      throw new Error(`libvirtd did not answer on ${SOCKET}${why ? `:\n  ${why}` : " within 30 s"}${hint}`);
    }
    await sleep(200);
  }
  return {
    uri: "qemu:///system",
    startedHere: true,
    /** Ends the daemons this helper started, and waits for them to be gone (SIGKILL after 15 s). */
    async stop() {
      for (const f of ["/var/run/libvirtd.pid", "/var/run/virtlogd.pid"]) {
        const pid = await pidOf(f);
        if (pid === null || !signal(pid, "SIGTERM")) continue;
        const end = Date.now() + 15_000;
        while (signal(pid, 0)) {
          if (Date.now() > end) signal(pid, "SIGKILL");
          await sleep(100);
        }
      }
    },
  };
}

/** Sends `sig` to `pid` (0: asks whether it lives); false when it is gone. */
function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Gives /dev/kvm to the kvm group (no udev here), as Debian's udev rule does. */
async function grantKvm(): Promise<void> {
  try {
    await access("/dev/kvm");
    const gid = Number(execFileSync("getent", ["group", "kvm"], { encoding: "utf8" }).split(":")[2]);
    if (Number.isInteger(gid)) await chown("/dev/kvm", 0, gid);
    await chmod("/dev/kvm", 0o660);
  } catch {
    // no /dev/kvm: guests run under TCG
  }
}

/** virsh on qemu:///system; throws with its stderr on failure. */
export const virsh = (...args: string[]): string =>
  execFileSync("virsh", ["-c", "qemu:///system", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** Runs a clean-up step that may find nothing to clean (a domain not there, not running). */
export const quiet = (f: () => unknown): void => {
  try {
    f();
  } catch {
    // nothing to clean
  }
};
