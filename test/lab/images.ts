/** What both lab tests boot: Debian's kernel and a busybox + node + scaph-guest initramfs, in `dir`. */
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/cli.js";
import { domainType } from "./accel.js";
import { buildInitramfs, staticBusybox } from "./initramfs.js";
import { fetchKernel } from "./kernel.js";

export const LAB_CACHE = process.env.SCAPH_LAB_CACHE ?? "/var/cache/scaph-lab";

export interface LabImages {
  vmlinuz: string;
  initrd: string;
  type: "kvm" | "qemu";
  /** Why that accelerator, and how long the image took. */
  about: string;
}

/** The images in `dir`; `init`: the guests' /init (test/lab/init.sh by default); `packages`: scaph's packages in it (common and guest by default). */
export async function labImages(dir: string, init = join(repoRoot, "test", "lab", "init.sh"), packages?: readonly string[]): Promise<LabImages> {
  const busybox = staticBusybox();
  const { type, why } = await domainType();
  const kernel = fetchKernel(LAB_CACHE);
  const initrd = join(dir, "initrd.gz");
  const t0 = Date.now();
  buildInitramfs({
    output: initrd,
    staging: join(dir, "root"),
    busybox,
    modules: kernel.modules,
    nodeBinary: process.execPath,
    repoRoot,
    init: readFileSync(init, "utf8"),
    ...(packages ? { packages } : {}),
  });
  chmodSync(initrd, 0o644);
  const vmlinuz = join(dir, "vmlinuz");
  writeFileSync(vmlinuz, readFileSync(kernel.vmlinuz));
  return {
    vmlinuz,
    initrd,
    type,
    about: `initramfs ${(readFileSync(initrd).length / 2 ** 20).toFixed(0)} MiB built in ${((Date.now() - t0) / 1000).toFixed(1)} s; guests run as type=${type}: ${why}`,
  };
}
