import type { Microjoules, Microwatts, Seconds, Ticks } from "../units.js";
import { averagePowerUw } from "../units.js";
import type { HostEnergy } from "./energy.js";

export interface DomainSnapshot {
  zone: string;
  name: string;
  energyUj: Microjoules;
  powerUw: Microwatts;
}

export interface SocketSnapshot {
  id: number;
  energyUj: Microjoules;
  powerUw: Microwatts;
  domains: DomainSnapshot[];
}

export interface ProcessSnapshot {
  pid: number;
  comm: string;
  exe: string;
  cmdline: string[];
  /** CPU time used over the interval. */
  cpuTicks: Ticks;
  /** Fraction of the host's busy time, in [0, 1]. */
  share: number;
  energyUj: Microjoules;
  powerUw: Microwatts;
  /** Share of total CPU capacity over the interval, in percent (all CPUs = 100 × ncpu). */
  cpuPercent: number;
  memoryBytes: number;
  memoryVirtualBytes: number;
  /** Set with --qemu on qemu processes: the VM name. */
  vmname?: string;
}

/** What every exporter consumes: one interval [t0, t1] of the host. */
export interface Snapshot {
  /** Unix seconds at t1. */
  timestampS: number;
  intervalS: Seconds;
  /** Where host values come from (powercap_rapl_psys, powercap_rapl_pkg, estimate). */
  valueSource: string;
  estimated: boolean;
  host: { energyUj: Microjoules; powerUw: Microwatts };
  sockets: SocketSnapshot[];
  /** Busy CPU time of the host over the interval. */
  busyTicks: Ticks;
  processes: ProcessSnapshot[];
}

export function socketsSnapshot(e: HostEnergy): SocketSnapshot[] {
  return e.sockets.map((s) => ({
    id: s.id,
    energyUj: s.energyUj,
    powerUw: averagePowerUw(s.energyUj, e.intervalS),
    domains: s.domains.map((d) => ({ ...d, powerUw: averagePowerUw(d.energyUj, e.intervalS) })),
  }));
}
