import { join } from "node:path";
import { ScaphError } from "../errors.js";
import { describeFailure, excerpt, readBounded, VALUE_BOUND } from "../io/bounded.js";
import type { Microjoules } from "../units.js";

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

/**
 * A counter that could not be read this time (malformed, vanished, not a
 * regular file): the step is skipped and the next one measures from the last
 * good reading. Permission errors are not of this kind: they do not heal.
 */
export class CounterReadError extends ScaphError {
  /** Nothing is wrong: there is just nothing new to measure (logged at debug level only). */
  readonly quiet: boolean;
  constructor(message: string, options: { quiet?: boolean } = {}) {
    super(message);
    this.name = "CounterReadError";
    this.quiet = options.quiet ?? false;
  }
}

/** Parses a non-negative decimal integer as the kernel writes it; null if malformed. */
export function parseUj(text: string): Microjoules | null {
  const t = text.trim();
  if (!/^\d{1,16}$/.test(t)) return null;
  return Number(t);
}

/**
 * Reads a zone's `energy_uj` (synchronously, at most 64 bytes, never through
 * a symlink, a FIFO or a device): clear errors for EACCES, the CVE-2020-8694
 * fix; a CounterReadError for anything else, quoting at most a short excerpt.
 */
export function readEnergyUj(zonePath: string): Microjoules {
  return readEnergy(zonePath).uj;
}

/** readEnergyUj(), with the file's modification time (ms): in a tree that carries its host's clock (HOST_CLOCK_FILE), the host time of the value. */
export function readEnergy(zonePath: string): { uj: Microjoules; mtimeMs: number } {
  const file = join(zonePath, "energy_uj");
  const r = readBounded(file, VALUE_BOUND);
  if (!r.ok) {
    if (r.why === "permission") throw permissionError(file);
    throw new CounterReadError(r.why === "missing" ? `${file} disappeared` : `Cannot read ${file}: ${describeFailure(r, VALUE_BOUND)}`);
  }
  const v = parseUj(r.text);
  if (v === null) throw new CounterReadError(`Malformed ${file}: expected a decimal count of microjoules, got ${excerpt(r.text)}`);
  return { uj: v, mtimeMs: r.mtimeMs };
}
