import { Meter, PowercapSensor, ProcessTable } from "@scaph/common";
import type { ContainerSource, Logger, VmSource } from "@scaph/common";
import { copyFixture, PowercapFixture, ProcFixture, removeTree } from "./fixtures.js";

/** A Meter over copies of fixture trees, with a clock the test moves. */
export interface FixtureRig {
  meter: Meter;
  power: PowercapFixture;
  proc: ProcFixture;
  /** The fixture /proc's root (a copy the rig removes). */
  procRoot: string;
  /** Moves the sensor's monotonic clock forward. */
  advanceClock(seconds: number): void;
  cleanup(): Promise<void>;
}

export async function fixtureRig(
  powercap: string,
  proc = "proc/basic",
  options: {
    vms?: (procRoot: string) => VmSource;
    containers?: (procRoot: string) => ContainerSource;
    hostStats?: boolean;
    log?: Logger;
    keepProcesses?: boolean;
  } = {},
): Promise<FixtureRig> {
  const powerRoot = await copyFixture(`powercap/${powercap}`);
  const procRoot = await copyFixture(proc);
  let now = 0n;
  const sensor = await PowercapSensor.open({ root: powerRoot, clock: () => now });
  const vms = options.vms?.(procRoot);
  const containers = options.containers?.(procRoot);
  const table = new ProcessTable({ procRoot, clockTicks: 100, pageSize: 4096, hostStats: options.hostStats ?? false });
  const meter = new Meter(sensor, table, {
    ...(vms ? { vms } : {}),
    ...(containers ? { containers } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.keepProcesses !== undefined ? { keepProcesses: options.keepProcesses } : {}),
  });
  meter.prime();
  return {
    meter,
    power: new PowercapFixture(powerRoot),
    proc: new ProcFixture(procRoot),
    procRoot,
    advanceClock(seconds) {
      now += BigInt(Math.round(seconds * 1e9));
    },
    async cleanup() {
      await removeTree(powerRoot);
      await removeTree(procRoot);
    },
  };
}
