/** The PowerSimulator's thread: advances its SimulatedTree in real time, every periodMs, until terminated. */
import { parentPort, workerData } from "node:worker_threads";
import { SimulatedTree } from "./simulator.js";
import type { SimulatorOptions } from "./simulator.js";

const o = workerData as SimulatorOptions;
const tree = new SimulatedTree(o);
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  tree.advance((now - last) / 1000);
  last = now;
}, o.periodMs ?? 10);
parentPort?.on("message", (m: { zone: string; watts: number }) => tree.setWatts(m.zone, m.watts));
