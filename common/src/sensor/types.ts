import type { Zone } from "../powercap/zones.js";
import type { Microjoules } from "../units.js";

/** One reading of one zone's cumulative counter. */
export interface ZoneReading {
  zone: Zone;
  energyUj: Microjoules;
}

/** One reading of every zone a sensor knows, at one instant. */
export interface EnergySample {
  /** Monotonic clock (process.hrtime.bigint) at the reading, ns. */
  monotonicNs: bigint;
  /** Wall clock at the reading, Unix seconds. */
  timestampS: number;
  readings: ZoneReading[];
}

/**
 * A Sensor reads energy counters; it never computes shares. Counters are
 * cumulative and may wrap at their zone's max_energy_range_uj. Reads are
 * synchronous: sysfs and procfs never wait on a disk.
 */
export interface Sensor {
  /** e.g. `powercap_rapl`, `estimate`. */
  readonly name: string;
  /** Where host values come from, for reports: `powercap_rapl_psys`, `powercap_rapl_pkg`, `estimate`. */
  valueSource(): string;
  /** Whether the values are estimated rather than measured. */
  readonly estimated: boolean;
  /** The zones the sensor reads (their names and wrap points), as of the last read. */
  zones(): readonly Zone[];
  read(): EnergySample;
}

export function nowSample(readings: ZoneReading[]): EnergySample {
  return { monotonicNs: process.hrtime.bigint(), timestampS: Date.now() / 1000, readings };
}
