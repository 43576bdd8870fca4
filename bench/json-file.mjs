#!/usr/bin/env node
// Benchmark: the cost of one step of `json -f FILE` after N steps.
// Baseline, measured in the same run: rewriting the whole array each step
// (temp file + rename), as Scaphandre's json exporter and scaph before it did.
// Each step writes a report with 10 consumers (about 2.5 KB).
// Usage: npm run build && node bench/json-file.mjs [steps]
import { mkdtempSync, rmSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JsonSink } from "../common/dist/src/index.js";

const steps = Number(process.argv[2] ?? 2000);
const dir = mkdtempSync(join(tmpdir(), "scaph-bench-json-"));
const report = (n) => ({
  host: { consumption: 30_000_000 + n, timestamp: 1700000000 + 2 * n, value_source: "powercap_rapl", estimated: false, components: { disks: [] } },
  consumers: Array.from({ length: 10 }, (_, i) => ({
    exe: `/usr/bin/process-${i}`, cmdline: `/usr/bin/process-${i} --flag value-${n}`, pid: 1000 + i,
    resources_usage: null, consumption: 1_000_000 * i + n, timestamp: 1700000000 + 2 * n, container: null,
  })),
  sockets: [{ id: 0, consumption: 30_000_000 + n, timestamp: 1700000000 + 2 * n, domains: [{ name: "dram", consumption: 2_000_000, timestamp: 1700000000 + 2 * n }] }],
});

/** Times each step (ms) of `write`; returns the median of the last 100 steps. */
async function lastSteps(write) {
  const times = [];
  for (let n = 0; n < steps; n++) {
    const t0 = process.hrtime.bigint();
    await write(report(n));
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const tail = times.slice(-100).sort((a, b) => a - b);
  return tail[50];
}

// Baseline: the whole array rewritten each step.
const all = [];
const baseFile = join(dir, "rewrite.json");
const base = await lastSteps(async (r) => {
  all.push(r);
  await writeFile(`${baseFile}.tmp`, JSON.stringify(all) + "\n");
  await rename(`${baseFile}.tmp`, baseFile);
});

const sink = new JsonSink({ file: join(dir, "append.json") });
const scaph = await lastSteps((r) => sink.write(r));
await sink.close();
rmSync(dir, { recursive: true, force: true });

console.log(`one step of json -f after ${steps} steps (median of the last 100), reports of ~2.5 KB`);
console.log(`rewrite whole array (baseline)  ${base.toFixed(3)} ms  1.00`);
console.log(`scaph JsonSink (append in place) ${scaph.toFixed(3)} ms  ${(scaph / base).toFixed(3)}`);
