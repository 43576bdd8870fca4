import { execa } from "execa";
import { ScaphError } from "@scaph/common";

export function tmpfsOptions(size: string): string {
  return `size=${size},mode=0755`;
}

export async function mountTmpfs(dir: string, size: string): Promise<void> {
  const r = await execa("mount", ["-t", "tmpfs", "-o", tmpfsOptions(size), "tmpfs", dir], { reject: false });
  if (r.exitCode !== 0) throw new ScaphError(`mount -t tmpfs on ${dir} failed: ${r.stderr.trim() || r.stdout.trim()}`);
}

export async function unmount(dir: string): Promise<void> {
  const r = await execa("umount", [dir], { reject: false });
  if (r.exitCode === 0) return;
  const busy = /busy/i.test(r.stderr);
  throw new ScaphError(
    `umount ${dir} failed: ${r.stderr.trim()}` +
      (busy ? `\n  Something still uses it (see: fuser -vm ${dir}); stop scaph-host qemu and the VM's virtiofsd, then retry.` : ""),
  );
}

/** A size as mount(8) takes it: a number with an optional k/m/g suffix, or a percentage. */
export function validSize(size: string): boolean {
  return /^\d+[kmgKMG]?$|^\d+%$/.test(size);
}
