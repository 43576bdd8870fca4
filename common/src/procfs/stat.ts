import { readText } from "./files.js";
import { ScaphError, errorMessage } from "../errors.js";
import type { Ticks } from "../units.js";

/** Aggregate CPU times from the `cpu` line of /proc/stat, in clock ticks. */
export interface CpuTimes {
  user: Ticks;
  nice: Ticks;
  system: Ticks;
  idle: Ticks;
  iowait: Ticks;
  irq: Ticks;
  softirq: Ticks;
  steal: Ticks;
  guest: Ticks;
  guestNice: Ticks;
}

/**
 * Busy time: user + nice + system + irq + softirq + steal. guest and
 * guest_nice are already inside user and nice, so they are not added again.
 */
export function busyTicks(t: CpuTimes): Ticks {
  return t.user + t.nice + t.system + t.irq + t.softirq + t.steal;
}

export function totalTicks(t: CpuTimes): Ticks {
  return busyTicks(t) + t.idle + t.iowait;
}

export function parseProcStat(text: string, file = "/proc/stat"): CpuTimes {
  const end = text.indexOf("\n");
  const first = end < 0 ? text : text.slice(0, end);
  const line = /^cpu\s/.test(first) ? first : text.split("\n").find((l) => /^cpu\s/.test(l));
  if (!line) throw new ScaphError(`Malformed ${file}: no aggregate "cpu" line`);
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((x) => !Number.isFinite(x) || x < 0)) {
    throw new ScaphError(`Malformed ${file}: bad "cpu" line ${JSON.stringify(line.slice(0, 80))}`);
  }
  const at = (i: number): Ticks => f[i] ?? 0;
  return {
    user: at(0),
    nice: at(1),
    system: at(2),
    idle: at(3),
    iowait: at(4),
    irq: at(5),
    softirq: at(6),
    steal: at(7),
    guest: at(8),
    guestNice: at(9),
  };
}

/** The aggregate CPU times of `<procRoot>/stat`, read synchronously. */
export function readCpuTimes(procRoot: string): CpuTimes {
  const file = `${procRoot}/stat`;
  let text: string;
  try {
    text = readText(file, 8192); // the aggregate "cpu" line comes first
  } catch (err) {
    throw new ScaphError(`Cannot read ${file} (is --procfs-path right?): ${errorMessage(err)}`, { cause: err });
  }
  return parseProcStat(text, file);
}
