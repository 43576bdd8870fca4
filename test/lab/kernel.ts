import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Modules the guest loads, in dependency order (from each .ko's `depends=`; Debian 12 builds them as modules). */
export const GUEST_MODULES = [
  "drivers/virtio/virtio_ring.ko",
  "drivers/virtio/virtio.ko",
  "drivers/virtio/virtio_pci_legacy_dev.ko",
  "drivers/virtio/virtio_pci_modern_dev.ko",
  "drivers/virtio/virtio_pci.ko",
  "drivers/char/virtio_console.ko",
  "fs/fuse/fuse.ko",
  "fs/fuse/virtiofs.ko",
  "fs/netfs/netfs.ko",
  "fs/fscache/fscache.ko",
  "net/9p/9pnet.ko",
  "net/9p/9pnet_virtio.ko",
  "fs/9p/9p.ko",
];

export interface GuestKernel {
  vmlinuz: string;
  /** Paths of the .ko files, in load order. */
  modules: string[];
}

function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { encoding: "utf8", cwd, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
}

/**
 * Debian's kernel, without installing it: `apt-get download` of the versioned
 * package linux-image-amd64 depends on, then vmlinuz and the modules taken
 * out with `dpkg-deb --fsys-tarfile`. Cached in `cacheDir`.
 */
export function fetchKernel(cacheDir: string): GuestKernel {
  mkdirSync(cacheDir, { recursive: true });
  const depends = (): string | undefined => {
    try {
      return /Depends: (linux-image-[\w.-]+)/.exec(sh("apt-cache", ["depends", "linux-image-amd64"]))?.[1];
    } catch {
      return undefined; // "No packages found": empty package lists
    }
  };
  let dep = depends();
  if (!dep) {
    sh("apt-get", ["update", "-qq"]);
    dep = depends();
  }
  if (!dep) throw new Error("apt-cache knows no linux-image-amd64, even after apt-get update: check /etc/apt/sources.list");
  const release = dep.replace(/^linux-image-/, "");
  const root = join(cacheDir, release);
  const vmlinuz = join(root, "boot", `vmlinuz-${release}`);
  const modDir = join(root, "lib", "modules", release, "kernel");
  if (!existsSync(vmlinuz) || !GUEST_MODULES.every((m) => existsSync(join(modDir, m)))) {
    mkdirSync(root, { recursive: true });
    if (!readdirSync(cacheDir).some((f) => f.startsWith(dep) && f.endsWith(".deb"))) sh("apt-get", ["download", dep], cacheDir);
    const deb = readdirSync(cacheDir).find((f) => f.startsWith(`${dep}_`) && f.endsWith(".deb"));
    if (!deb) throw new Error(`apt-get download ${dep} produced no .deb in ${cacheDir}`);
    const wanted = [`./boot/vmlinuz-${release}`, ...GUEST_MODULES.map((m) => `./lib/modules/${release}/kernel/${m}`)];
    execFileSync("sh", ["-c", `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ${wanted.map((w) => `'${w}'`).join(" ")}`, "sh", join(cacheDir, deb), root]);
  }
  return { vmlinuz, modules: GUEST_MODULES.map((m) => join(modDir, m)) };
}
