/** What the sending exporters' tests share: a simulated host of known power, and cleanup of what they started at the file's end. */
import { after } from "node:test";
import { copyFixture, PowerSimulator, removeTree } from "@scaph/test-support";
import type { Background } from "../helpers/processes.js";

export const WATTS = 20;
export const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A simulated host drawing WATTS on its package. */
export async function simulatedHost(fixture = "powercap/intel-1socket"): Promise<string> {
  const tree = await copyFixture(fixture);
  const sim = new PowerSimulator({ powercapRoot: tree, zones: [{ zone: "intel-rapl:0", watts: WATTS }] });
  sim.start();
  cleanups.push(async () => {
    await sim.stop();
    await removeTree(tree);
  });
  return tree;
}

/** A background process stopped at the file's end. */
export function started(bg: Background): Background {
  cleanups.push(() => bg.stop());
  return bg;
}

export const near = (v: number | null, expected: number, tolerance: number): boolean => v !== null && Math.abs(v - expected) <= tolerance * expected;
