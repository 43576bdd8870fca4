/**
 * What a lab checks of a VM's energy handed from one daemon to another
 * (live migrations: between two hosts, test/lab/migration.system.test.ts;
 * between two KubeVirt-shaped pods, test/lab/kubevirt-migration.system.test.ts),
 * from the guest's console and the daemons' statuses: every value the
 * guest's probes read is a sum of what the daemons sent, its counter never
 * goes back, no report above a host's whole power, each epoch's first line
 * one step at most, and what each move lost (at most two steps).
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { consoleReports } from "./console.js";
import type { ConsoleEvent } from "./console.js";
import type { DaemonHistory } from "./daemon-history.js";

/** A move of the VM: from one daemon's host to another's, and when (host ms). */
export interface Move {
  from: string;
  to: string;
  startMs: number;
  endMs: number;
}

/** Checks the hand-off of `moves` (see above); `watts`: each host's whole power (W); `stepS`: the daemons' step. */
export function checkHandoff(
  t: TestContext,
  ev: readonly ConsoleEvent[],
  history: Readonly<Record<string, DaemonHistory>>,
  moves: readonly Move[],
  watts: Readonly<Record<string, number>>,
  stepS: number,
): void {
  // The lines the guest applied, in order, and the daemons' counters for each: the guest's tree after each is
  // the sum over epochs of the last value applied from each (it started empty).
  const lines = new Map<string, { host: string; uj: number; zonesUj: number[]; stepS: number; seq: number }[]>();
  for (const h of Object.keys(history)) {
    for (const [epoch, bySeq] of history[h]!.bySeq)
      lines.set(
        epoch,
        [...bySeq].map(([seq, l]) => ({ host: h, uj: l.uj, zonesUj: l.zonesUj, stepS: l.stepS, seq })),
      );
  }
  const appliedLines = ev
    .filter((e) => e.kind === "guest-log" && e.raw.includes("applied epoch"))
    .map((e) => /applied epoch (\S+) seq (\d+)/.exec(e.raw))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ epoch: m[1]!, seq: Number(m[2]) }));
  // The tree after each line applied: package and dram, each the sum over epochs.
  const last = new Map<string, number[]>();
  const trees: number[][] = [[0, 0]];
  let unknown = 0;
  for (const a of appliedLines) {
    const l = lines.get(a.epoch)?.find((x) => x.seq === a.seq);
    if (!l) unknown++; // a step the status poll missed: the trees after it cannot be known
    last.set(a.epoch, l ? l.zonesUj : [NaN, NaN]);
    trees.push([0, 1].map((z) => [...last.values()].reduce((x, v) => x + (v[z] ?? 0), 0)));
  }
  // A probe reads dram, the package, dram again: the receiver writes dram first, so a probe between its two
  // writes reads the new dram with the package of its write before ("torn"). The receiver writes once per
  // read of the port, which may hold several lines: the write before may be a few lines back. Any other
  // value is no sum of what was sent.
  const exact = new Set(trees.map(([p, d]) => p! + d!));
  const torn = new Set<number>();
  for (let j = 1; j < trees.length; j++) for (let i = Math.max(0, j - 16); i < j; i++) torn.add(trees[i]![0]! + trees[j]![1]!);
  const probes = ev.filter((e) => e.kind === "probe").map((e) => Number(e.fields.uj));
  const verified = probes.filter((p) => exact.has(p));
  const tornProbes = probes.filter((p) => !exact.has(p) && torn.has(p));
  t.diagnostic(
    `${appliedLines.length} lines applied (${unknown} not seen in the daemons' statuses); ${verified.length} of ${probes.length} probes are exact sums of what the daemons sent, ${tornProbes.length} read between two files' writes`,
  );
  const unexplained = probes.filter((p) => !exact.has(p) && !torn.has(p));
  assert.ok(unexplained.length <= unknown, `probes that are no sum of the daemons' lines: ${unexplained.slice(0, 10).join(", ")}`);
  assert.ok(verified.length >= probes.length / 2, `${verified.length} of ${probes.length} probes verified`);

  // Never a decrease of the guest's counter.
  for (let i = 1; i < probes.length; i++) assert.ok(probes[i]! >= probes[i - 1]!, `probe ${i}: ${probes[i - 1]} -> ${probes[i]} µJ`);

  // No step reads above the host's whole power; after each move, above the destination's (25% for the fake
  // counters' timing).
  const reports = consoleReports(ev);
  for (const r of reports) assert.ok(r.uw >= 0 && r.uw <= 1.25 * Math.max(...Object.values(watts)) * 1e6, `report at ${r.ts}: ${r.uw} µW`);
  for (const [i, m] of moves.entries()) {
    const untilMs = moves[i + 1]?.startMs ?? Infinity;
    const after = reports.filter((r) => r.ts * 1000 > m.endMs + 2 * stepS * 1000 && r.ts * 1000 < untilMs);
    const peak = Math.max(0, ...after.map((r) => r.uw));
    t.diagnostic(`after ${m.from}→${m.to}: ${after.length} reports, the highest ${(peak / 1e6).toFixed(2)} W (host ${m.to}: ${watts[m.to]!} W)`);
    assert.ok(peak <= 1.25 * watts[m.to]! * 1e6, `after ${m.from}→${m.to}: ${peak} µW, above host ${m.to}'s ${watts[m.to]!} W`);
  }

  // Each epoch's first line holds one step's energy at most: no receive work of the paused incoming qemu.
  for (const [epoch, ls] of lines) {
    const first = ls.find((l) => l.seq === 1);
    if (!first) continue;
    assert.ok(first.uj <= 1.25 * watts[first.host]! * first.stepS * 1e6, `epoch ${epoch} (host ${first.host}) began with ${first.uj} µJ over ${first.stepS} s`);
  }

  // What each move lost: the source's counter at its last step, less its last line the guest applied.
  for (const m of moves) {
    const srcEpochs = [...history[m.from]!.bySeq.entries()].filter(([, ls]) =>
      [...ls.values()].some((l) => l.hostMs <= m.endMs + 1000 && l.hostMs >= m.startMs - 60_000),
    );
    const [epoch, ls] = srcEpochs[srcEpochs.length - 1] ?? [];
    if (!epoch || !ls) continue;
    const finalUj = Math.max(...[...ls.values()].map((l) => l.uj));
    const lastSeq = Math.max(0, ...appliedLines.filter((a) => a.epoch === epoch).map((a) => a.seq));
    const lostUj = finalUj - (ls.get(lastSeq)?.uj ?? NaN);
    const stepUj = Math.max(...[...ls.values()].map((l, i, all) => (i > 0 ? l.uj - all[i - 1]!.uj : 0)));
    t.diagnostic(
      `${m.from}→${m.to}: the source counted ${(finalUj / 1e6).toFixed(2)} J in its epoch; the guest applied its line ${lastSeq} of ${Math.max(...ls.keys())}: ${(lostUj / 1e6).toFixed(2)} J lost (one step: ${(stepUj / 1e6).toFixed(2)} J)`,
    );
    assert.ok(lostUj >= 0 && lostUj <= 2 * stepUj, `${lostUj} µJ lost in ${m.from}→${m.to}`);
  }
}
