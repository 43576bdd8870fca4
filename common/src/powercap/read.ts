import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ScaphError, errnoCode } from "../errors.js";
import type { Microjoules } from "../units.js";
import { parseUj } from "./zones.js";

export function permissionError(file: string): ScaphError {
  return new ScaphError(
    `Permission denied reading ${file}.\n` +
      `  Since the fix for CVE-2020-8694 (Linux 5.10), energy_uj is readable by root only.\n` +
      `  Run scaph as root, or grant read access to the user that runs it, e.g.:\n` +
      `    chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj /sys/class/powercap/intel-rapl:*:*/energy_uj\n` +
      `  (sysfs permissions reset at boot: repeat it from a systemd unit or udev rule). Granting it to all users\n` +
      `  re-opens the power side channel of CVE-2020-8694; prefer a dedicated group.`,
  );
}

/** Reads a zone's `energy_uj`; clear errors for EACCES and malformed content. */
export async function readEnergyUj(zonePath: string): Promise<Microjoules> {
  const file = join(zonePath, "energy_uj");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = errnoCode(err);
    if (code === "EACCES" || code === "EPERM") throw permissionError(file);
    if (code === "ENOENT") throw new ScaphError(`${file} disappeared`);
    throw new ScaphError(`Cannot read ${file}: ${String(err)}`, { cause: err });
  }
  const v = parseUj(text);
  if (v === null) {
    throw new ScaphError(`Malformed ${file}: expected a decimal count of microjoules, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return v;
}
