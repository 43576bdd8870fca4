import { readCpuTimes, busyTicks, totalTicks } from "../procfs/stat.js";
import type { Zone } from "../powercap/zones.js";
import { ScaphError } from "../errors.js";
import type { Microjoules } from "../units.js";
import { nowSample } from "./types.js";
import type { EnergySample, Sensor } from "./types.js";

/** Documented defaults: a typical desktop/server CPU package. */
export const DEFAULT_TDP_WATTS = 65;
export const DEFAULT_IDLE_WATTS = 10;

export interface EstimateSensorOptions {
  procRoot: string;
  /** Package power at 100% CPU utilisation, W. */
  tdpWatts?: number;
  /** Package power at 0% CPU utilisation, W. */
  idleWatts?: number;
}

/**
 * For machines without RAPL: package power estimated from /proc/stat CPU
 * utilisation u with a linear model, P = idle + (tdp - idle) × u, integrated
 * into a cumulative energy counter so that it reads like a RAPL zone.
 */
export class EstimateSensor implements Sensor {
  readonly name = "estimate";
  readonly estimated = true;
  readonly tdpWatts: number;
  readonly idleWatts: number;
  private readonly procRoot: string;
  private readonly zone: Zone = {
    id: "estimate:0",
    path: "",
    name: "package-0",
    kind: "package",
    socket: 0,
    parent: null,
    maxEnergyRangeUj: null,
  };
  private energyUj: Microjoules = 0;
  private last: { ns: bigint; busy: number; total: number } | null = null;

  constructor(options: EstimateSensorOptions) {
    this.procRoot = options.procRoot;
    this.tdpWatts = options.tdpWatts ?? DEFAULT_TDP_WATTS;
    this.idleWatts = options.idleWatts ?? DEFAULT_IDLE_WATTS;
    if (!(this.tdpWatts > 0) || !(this.idleWatts >= 0) || this.idleWatts > this.tdpWatts) {
      throw new ScaphError(`Invalid estimation model: need 0 <= --idle-watts (${this.idleWatts}) <= --tdp-watts (${this.tdpWatts}) and --tdp-watts > 0`);
    }
  }

  valueSource(): string {
    return "estimate";
  }

  /** Power in W for a utilisation in [0, 1]. */
  modelWatts(utilisation: number): number {
    const u = Math.min(1, Math.max(0, utilisation));
    return this.idleWatts + (this.tdpWatts - this.idleWatts) * u;
  }

  zones(): readonly Zone[] {
    return [this.zone];
  }

  read(): EnergySample {
    const cpu = readCpuTimes(this.procRoot);
    const ns = process.hrtime.bigint();
    const busy = busyTicks(cpu);
    const total = totalTicks(cpu);
    if (this.last !== null) {
      const dt = Number(ns - this.last.ns) / 1e9;
      const dTotal = total - this.last.total;
      const u = dTotal > 0 ? (busy - this.last.busy) / dTotal : 0;
      this.energyUj += Math.round(this.modelWatts(u) * dt * 1e6);
    }
    this.last = { ns, busy, total };
    const s = nowSample([{ zone: this.zone, energyUj: this.energyUj }]);
    return { ...s, monotonicNs: ns };
  }
}
