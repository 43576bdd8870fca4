import { mkdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { errnoCode, replaceFile, ScaphError } from "@scaph/common";

const PROBE = ".scaph-probe";

/**
 * The daemon's check at start: the base dir exists (made if missing) and
 * takes a file. Else an error naming the directory and the fix, before any
 * step (not one EACCES per VM per step).
 */
export function checkBaseDir(baseDir: string): void {
  try {
    mkdirSync(baseDir, { recursive: true, mode: 0o755 });
    replaceFile(baseDir, PROBE, "");
    unlinkSync(join(baseDir, PROBE));
  } catch (err) {
    const code = errnoCode(err) ?? "";
    const why = err instanceof Error ? err.message.replace(/\/proc\/self\/fd\/\d+/g, baseDir) : String(err);
    const fix =
      code === "EACCES" || code === "EPERM"
        ? "scaph-host qemu writes the VM trees as root (RAPL is root-only too): run it as root (sudo, or systemctl start scaph-host-qemu)"
        : code === "EROFS"
          ? "a read-only filesystem: under systemd (ProtectSystem=strict) the service may write only /var/lib/libvirt/scaphandre; for another --base-dir add ReadWritePaths= with systemctl edit scaph-host-qemu"
          : "give --base-dir a directory it may write";
    throw new ScaphError(`cannot write the VM trees' base dir ${baseDir}: ${why}\n  ${fix}`);
  }
}
