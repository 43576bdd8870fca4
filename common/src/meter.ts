import { errorMessage } from "./errors.js";
import { attribute } from "./attribution/attribute.js";
import type { VmClaim } from "./attribution/attribute.js";
import { energyBetween } from "./attribution/energy.js";
import type { Snapshot } from "./attribution/snapshot.js";
import type { ContainerSource } from "./containers/source.js";
import type { Logger } from "./log.js";
import { silentLogger } from "./log.js";
import { CounterReadError } from "./powercap/read.js";
import type { ProcSample, ProcessTable } from "./procfs/table.js";
import type { EnergySample, Sensor } from "./sensor/types.js";

/**
 * Finds the VMs among the processes of a reading (scaph-host's resolver:
 * qemu processes joined with libvirt and their cgroups). Synchronous: what
 * it needs from slow sources (libvirt) it fetches in the background.
 */
export interface VmSource {
  claims(proc: ProcSample, prevUptimeS: number): VmClaim[];
}

export interface MeterOptions {
  log?: Logger;
  vms?: VmSource;
  /** Resolves each process's container (--containers). */
  containers?: ContainerSource;
  /** Whether a sink reads each Snapshot's processes (default true); the VM trees alone do not: see AttributionInput. */
  keepProcesses?: boolean;
}

/**
 * The measurement: two readings of energy and /proc make one Snapshot, the
 * only place where energy is split. Every file is read synchronously (see
 * procfs/files.ts); the loop's measureYielding() gives the event loop a
 * turn between chunks of processes, measure() none.
 */
export class Meter {
  private prevEnergy: EnergySample | null = null;
  private prevUptimeS = 0;
  private prevBusy = 0;
  private readonly log: Logger;
  private readonly vms: VmSource | undefined;
  readonly containers: ContainerSource | undefined;
  private readonly keepProcesses: boolean;

  constructor(
    readonly sensor: Sensor,
    readonly table: ProcessTable,
    options: MeterOptions = {},
  ) {
    this.log = options.log ?? silentLogger;
    this.vms = options.vms;
    this.containers = options.containers;
    this.keepProcesses = options.keepProcesses ?? true;
  }

  /** Ends what the meter follows in the background (the container directories' connections). */
  close(): void {
    this.containers?.close();
    this.table.close();
  }

  /**
   * Takes the first reading (t0). A counter that cannot be read now is
   * logged, and the next measure() takes the first reading instead.
   */
  prime(): void {
    try {
      const energy = this.sensor.read();
      const proc = this.table.sample();
      this.vms?.claims(proc, proc.uptimeS);
      this.prevEnergy = energy;
      this.prevUptimeS = proc.uptimeS;
      this.prevBusy = proc.busyTicks;
    } catch (err) {
      if (!(err instanceof CounterReadError)) throw err;
      this.prevEnergy = null;
      if (err.quiet) this.log.debug(`first reading: ${err.message}`);
      else this.log.warn(`first reading failed: ${err.message}`);
    }
  }

  /**
   * Reads t1 and returns the Snapshot of [t0, t1]; t1 becomes the next t0.
   * A failed read throws (the caller skips the step) and leaves t0 as it
   * was, so the next step measures from the last good reading: no energy is
   * lost.
   */
  measure(): Snapshot {
    this.primed();
    const energy = this.sensor.read();
    return this.snapshot(energy, this.table.sample());
  }

  /** measure(), reading /proc in chunks with turns of the event loop between them (ProcessTable.sampleYielding). */
  async measureYielding(): Promise<Snapshot> {
    this.primed();
    const energy = this.sensor.read();
    return this.snapshot(energy, await this.table.sampleYielding());
  }

  /** Takes the first reading if there is none yet, and then throws: a step needs two readings. */
  private primed(): void {
    if (this.prevEnergy) return;
    this.prime();
    throw new CounterReadError(this.prevEnergy ? "first reading taken: measuring from the next step" : "no reading yet to measure from", {
      quiet: this.prevEnergy !== null,
    });
  }

  private snapshot(energy: EnergySample, proc: ProcSample): Snapshot {
    const prevEnergy = this.prevEnergy as EnergySample;
    const prevUptimeS = this.prevUptimeS;
    const busy = Math.max(0, proc.busyTicks - this.prevBusy);
    this.prevEnergy = energy;
    this.prevUptimeS = proc.uptimeS;
    this.prevBusy = proc.busyTicks;
    const host = energyBetween(prevEnergy, energy, this.log);
    const snapshot = attribute({
      energy: host,
      timestampS: energy.timestampS,
      valueSource: this.sensor.valueSource(),
      estimated: this.sensor.estimated,
      zones: this.sensor.zones(),
      proc,
      prevUptimeS,
      busyTicks: busy,
      clockTicks: this.table.clockTicks,
      pageSize: this.table.pageSize,
      vms: this.vms ? this.vms.claims(proc, prevUptimeS) : [],
      ...(this.containers ? { containerOf: this.containers.resolve(proc) } : {}),
      keepProcesses: this.keepProcesses,
    });
    if (this.log.enabled("debug")) {
      const vms = snapshot.vms.map((v) => `${v.name}=${v.energyUj} µJ (${v.cpuSource} ${v.cpuTicks.toFixed(1)} ticks)`);
      this.log.debug(
        `measure: ${host.intervalS.toFixed(3)} s, host ${host.hostUj} µJ, busy ${busy} ticks, ${snapshot.processCount} processes, ` +
          `attributed ${snapshot.attributedUj} µJ${this.vms ? `; VMs: ${vms.join(", ") || "none"}; other processes ${snapshot.othersUj} µJ` : ""}`,
      );
    }
    return snapshot;
  }
}

/** measure(), or null (and a log line) for a step that must be skipped. */
export function measureOrSkip(m: Meter, log: Logger): Snapshot | null {
  try {
    return m.measure();
  } catch (err) {
    skipped(err, log);
    return null;
  }
}

/** measureYielding(), or null (and a log line) for a step that must be skipped. */
export async function measureYieldingOrSkip(m: Meter, log: Logger): Promise<Snapshot | null> {
  try {
    return await m.measureYielding();
  } catch (err) {
    skipped(err, log);
    return null;
  }
}

function skipped(err: unknown, log: Logger): void {
  const msg = `step skipped: ${errorMessage(err)}`;
  if (err instanceof CounterReadError && err.quiet) log.debug(msg);
  else log.error(msg);
}
