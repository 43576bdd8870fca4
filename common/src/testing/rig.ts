import { Measurer, PowercapSensor, ProcessTable } from "../index.js";
import type { ProcessAnnotator } from "../index.js";
import { copyFixture, PowercapFixture, ProcFixture, removeTree } from "./fixtures.js";

/** A Measurer over copies of fixture trees, with a clock the test moves. */
export interface FixtureRig {
  measurer: Measurer;
  power: PowercapFixture;
  proc: ProcFixture;
  /** Moves the sensor's monotonic clock forward. */
  advanceClock(seconds: number): void;
  cleanup(): Promise<void>;
}

export async function fixtureRig(powercap: string, proc = "proc/basic", annotate?: ProcessAnnotator): Promise<FixtureRig> {
  const powerRoot = await copyFixture(`powercap/${powercap}`);
  const procRoot = await copyFixture(proc);
  let now = 0n;
  const sensor = await PowercapSensor.open({ root: powerRoot, clock: () => now });
  const measurer = new Measurer(sensor, new ProcessTable({ procRoot, clockTicks: 100 }), annotate ? { annotate } : {});
  await measurer.prime();
  return {
    measurer,
    power: new PowercapFixture(powerRoot),
    proc: new ProcFixture(procRoot),
    advanceClock(seconds) {
      now += BigInt(Math.round(seconds * 1e9));
    },
    async cleanup() {
      await removeTree(powerRoot);
      await removeTree(procRoot);
    },
  };
}
