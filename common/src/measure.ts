import { energyBetween } from "./attribution/energy.js";
import { CounterReadError } from "./powercap/read.js";
import type { HostEnergy } from "./attribution/energy.js";
import { cpuShares, splitEnergy } from "./attribution/share.js";
import { socketsSnapshot } from "./attribution/snapshot.js";
import type { ProcessSnapshot, Snapshot } from "./attribution/snapshot.js";
import type { Logger } from "./log.js";
import { silentLogger } from "./log.js";
import type { ProcessInfo, ProcSample, ProcessTable } from "./procfs/table.js";
import type { EnergySample, Sensor } from "./sensor/types.js";
import { averagePowerUw } from "./units.js";
import type { Ticks } from "./units.js";

const PAGE_SIZE = 4096;

/** One measurement interval with its raw inputs, for consumers that need more than the Snapshot (qemu). */
export interface Interval {
  snapshot: Snapshot;
  energy: HostEnergy;
  prevProc: ProcSample;
  curProc: ProcSample;
}

/** Adds labels (e.g. the VM name of a qemu process) to a process of a Snapshot. */
export type ProcessAnnotator = (p: ProcessSnapshot, info: ProcessInfo) => void;

/**
 * CPU time a process used over [prev, cur]. A process first seen in `cur`
 * counts whole if it started after `prev` was taken, else (no baseline) 0.
 */
export function processDeltaTicks(p: ProcessInfo, prev: ProcSample, clockTicks: number): Ticks {
  const before = prev.processes.get(p.key);
  if (before) return Math.max(0, p.cpuTicks - before.cpuTicks);
  return p.startTicks / clockTicks >= prev.uptimeS ? p.cpuTicks : 0;
}

/**
 * The measurement loop's state: two readings of energy and /proc make one
 * Snapshot. measure() returns the interval since the previous call.
 */
export class Measurer {
  private prevEnergy: EnergySample | null = null;
  private prevProc: ProcSample | null = null;
  private readonly log: Logger;
  private readonly annotate: ProcessAnnotator | undefined;

  constructor(
    readonly sensor: Sensor,
    readonly table: ProcessTable,
    options: { log?: Logger; annotate?: ProcessAnnotator } = {},
  ) {
    this.log = options.log ?? silentLogger;
    this.annotate = options.annotate;
  }

  /**
   * Takes the first reading (t0). A counter that cannot be read now is
   * logged, and the next measure() takes the first reading instead.
   */
  async prime(): Promise<void> {
    try {
      [this.prevEnergy, this.prevProc] = await Promise.all([this.sensor.sample(), this.table.sample()]);
    } catch (err) {
      if (!(err instanceof CounterReadError)) throw err;
      this.prevEnergy = this.prevProc = null;
      this.log.warn(`first reading failed: ${err.message}`);
    }
  }

  /**
   * Reads t1 and returns the interval [t0, t1]; t1 becomes the next t0. A
   * failed read throws (the caller skips the step) and leaves t0 as it was.
   */
  async measure(): Promise<Interval> {
    if (!this.prevEnergy || !this.prevProc) {
      await this.prime();
      throw new CounterReadError(this.prevEnergy ? "first reading taken: measuring from the next step" : "no reading yet to measure from");
    }
    const [curEnergy, curProc] = await Promise.all([this.sensor.sample(), this.table.sample()]);
    const prevEnergy = this.prevEnergy as EnergySample;
    const prevProc = this.prevProc as ProcSample;
    this.prevEnergy = curEnergy;
    this.prevProc = curProc;
    const energy = energyBetween(prevEnergy, curEnergy, this.log);
    const busy = Math.max(0, curProc.busyTicks - prevProc.busyTicks);
    const procs = [...curProc.processes.values()];
    const deltas = procs.map((p) => processDeltaTicks(p, prevProc, this.table.clockTicks));
    const shares = cpuShares(busy, deltas);
    const energies = splitEnergy(energy.hostUj, shares);
    const capacityTicks = energy.intervalS * this.table.clockTicks;
    const processes: ProcessSnapshot[] = procs.map((p, i) => ({
      pid: p.pid,
      comm: p.comm,
      exe: p.exe,
      cmdline: p.cmdline,
      cpuTicks: deltas[i] ?? 0,
      share: shares[i] ?? 0,
      energyUj: energies[i] ?? 0,
      powerUw: averagePowerUw(energies[i] ?? 0, energy.intervalS),
      cpuPercent: capacityTicks > 0 ? (100 * (deltas[i] ?? 0)) / capacityTicks : 0,
      memoryBytes: p.rssPages * PAGE_SIZE,
      memoryVirtualBytes: p.vsizeBytes,
    }));
    if (this.annotate) processes.forEach((p, i) => this.annotate?.(p, procs[i] as ProcessInfo));
    processes.sort((a, b) => b.energyUj - a.energyUj || b.cpuTicks - a.cpuTicks || a.pid - b.pid);
    const snapshot: Snapshot = {
      timestampS: curEnergy.timestampS,
      intervalS: energy.intervalS,
      valueSource: this.sensor.valueSource(),
      estimated: this.sensor.estimated,
      host: { energyUj: energy.hostUj, powerUw: averagePowerUw(energy.hostUj, energy.intervalS) },
      sockets: socketsSnapshot(energy),
      busyTicks: busy,
      processes,
    };
    this.log.debug(
      `measure: ${energy.intervalS.toFixed(3)} s, host ${energy.hostUj} µJ, busy ${busy} ticks, ` +
        `${processes.length} processes, attributed ${energies.reduce((a, b) => a + b, 0)} µJ`,
    );
    return { snapshot, energy, prevProc, curProc };
  }
}
