import { access } from "node:fs/promises";
import { execa } from "execa";
import { tmpfsOptions } from "./mounts.js";

/**
 * `systemd-escape --path`: the path normalised (no duplicate or trailing
 * slashes), its leading `/` dropped, `/` written `-`, and every byte outside
 * [A-Za-z0-9:_.] (and a leading `.`) written `\xNN`.
 */
export function systemdEscapePath(path: string): string {
  const norm = path
    .split("/")
    .filter((p) => p !== "" && p !== ".")
    .join("/");
  if (norm === "") return "-";
  let out = "";
  const bytes = Buffer.from(norm, "utf8");
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const c = String.fromCharCode(b);
    if (c === "/") out += "-";
    else if (/[A-Za-z0-9:_]/.test(c) || (c === "." && i > 0)) out += c;
    else out += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

export function mountUnitName(dir: string): string {
  return `${systemdEscapePath(dir)}.mount`;
}

export function mountUnitText(dir: string, size: string, domain: string): string {
  return [
    "# Written by scaph-host setup: the tmpfs that holds this VM's powercap tree.",
    "[Unit]",
    `Description=scaph powercap tree of VM ${domain}`,
    "Before=libvirtd.service scaph-host-qemu.service",
    "",
    "[Mount]",
    "What=tmpfs",
    `Where=${dir}`,
    "Type=tmpfs",
    `Options=${tmpfsOptions(size)}`,
    "",
    "[Install]",
    "WantedBy=local-fs.target",
    "",
  ].join("\n");
}

/** The /etc/fstab line for hosts without systemd (spaces in paths written \040). */
export function fstabLine(dir: string, size: string): string {
  return `tmpfs ${dir.replace(/ /g, "\\040")} tmpfs ${tmpfsOptions(size)} 0 0`;
}

/** Whether systemd is the running init (sd_booted()). */
export async function systemdRunning(): Promise<boolean> {
  try {
    await access("/run/systemd/system");
    return true;
  } catch {
    return false;
  }
}

export async function systemctl(args: readonly string[]): Promise<void> {
  await execa("systemctl", [...args]);
}
