import { mkdir } from "node:fs/promises";
import { guestMountArgs, guestMountCommand, mountAt, ScaphError, SHARE_TAG } from "@scaph/common";
import type { ShareTransport as Transport } from "@scaph/common";

/** Explains a failed mount of the share. */
export function mountFailure(t: Transport, path: string, stderr: string): ScaphError {
  const s = stderr.trim();
  let hint: string;
  if (/unknown filesystem type|No such device/i.test(s)) {
    hint = `this kernel has no ${t} support: modprobe ${t === "virtiofs" ? "virtiofs" : "9pnet_virtio 9p"} (or try --transport ${t === "virtiofs" ? "9p" : "virtiofs"})`;
  } else if (/wrong fs type|bad option|bad superblock|No such file or directory|can't find|not found|Invalid argument/i.test(s)) {
    hint =
      `no ${t} share with tag "${SHARE_TAG}" reached this VM: on the host, run "scaph-host setup <domain> --transport ${t}" ` +
      `and restart the VM (or check that the host set it up with the other transport)`;
  } else if (/permission denied|must be superuser|only root/i.test(s)) hint = "mounting needs root";
  else hint = "see the message above";
  return new ScaphError(`${guestMountCommand(t, path)} failed: ${s}\n  ${hint}`);
}

/** Mounts the share at `path` (created if missing); does nothing if it is already mounted there. */
export async function mountShare(t: Transport, path: string, print: (l: string) => void, procRoot = "/proc"): Promise<void> {
  const m = await mountAt(path, procRoot);
  if (m) {
    if (m.fsType === t) {
      print(`${path} is already a ${t} mount of ${m.source}: nothing to do`);
      return;
    }
    throw new ScaphError(`${path} is already mounted (${m.fsType} from ${m.source}); umount it first to mount the ${t} share there`);
  }
  if (process.getuid?.() !== 0) throw new ScaphError(`mounting the share needs root: sudo scaph-guest mount --transport ${t} --path ${path}`);
  await mkdir(path, { recursive: true });
  const { execa } = await import("execa");
  const r = await execa("mount", guestMountArgs(t, path), { reject: false });
  if (r.exitCode !== 0) throw mountFailure(t, path, r.stderr || r.stdout);
  print(`mounted the ${t} share "${SHARE_TAG}" at ${path}`);
}
