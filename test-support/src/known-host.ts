import type { Snapshot } from "@scaph/common";
import { fixtureRig } from "./rig.js";
import type { FixtureRig } from "./rig.js";

/** What knownHost's steps measure: a 12 W host (package 10 W, dram 2 W), its power all in three processes. */
export const KNOWN_HOST = {
  hostUw: 12_000_000,
  /** pid → power (µW): 100 (nginx) half, 200 three tenths, 300 a fifth. */
  processUw: new Map([
    [100, 6_000_000],
    [200, 3_600_000],
    [300, 2_400_000],
  ]),
} as const;

/**
 * A fixture host of known power, for exporters: each step() is 2 s of a
 * fake clock in which the package counter gains 20 J and dram 4 J, and all
 * 200 busy ticks belong to pids 100, 200 and 300 (100, 60, 40 ticks).
 */
export async function knownHost(options: { keepProcesses?: boolean } = {}): Promise<{ rig: FixtureRig; step(): Promise<Snapshot>; cleanup(): Promise<void> }> {
  const rig = await fixtureRig("intel-1socket", "proc/basic", options);
  return {
    rig,
    async step() {
      await rig.power.advance("intel-rapl:0", 20_000_000);
      await rig.power.advance("intel-rapl:0:2", 4_000_000);
      await rig.proc.advanceBusy(200, 0);
      await rig.proc.advanceProcess(100, 80, 20);
      await rig.proc.advanceProcess(200, 60);
      await rig.proc.advanceProcess(300, 40);
      rig.advanceClock(2);
      return rig.meter.measure();
    },
    cleanup: () => rig.cleanup(),
  };
}
