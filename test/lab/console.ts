import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Probe, Report } from "./accuracy.js";
import { waitFor } from "../helpers/processes.js";

/** The lines the lab's /init prints as `SCAPH-LAB <kind> key=value ...`. */
export interface ConsoleEvent {
  kind: string;
  fields: Record<string, string>;
  raw: string;
}

export function parseConsole(text: string): ConsoleEvent[] {
  const out: ConsoleEvent[] = [];
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf("SCAPH-LAB ");
    if (i < 0) continue;
    const rest = line.slice(i + 10).trim();
    const [kind = "", ...parts] = rest.split(/\s+/);
    const fields: Record<string, string> = {};
    for (const p of parts) {
      const eq = p.indexOf("=");
      if (eq > 0) fields[p.slice(0, eq)] = p.slice(eq + 1);
    }
    out.push({ kind, fields, raw: rest });
  }
  return out;
}

/** The probes a guest printed: a counter (µJ) read between two guest clock readings (ms). */
export function consoleProbes(events: readonly ConsoleEvent[]): Probe[] {
  const ms = (s: string | undefined, us: string | undefined): number => Number(s) * 1000 + Number(us) / 1000;
  return events
    .filter((e) => e.kind === "probe")
    .map((e) => ({ g1Ms: ms(e.fields.s1, e.fields.u1), g2Ms: ms(e.fields.s2, e.fields.u2), uj: Number(e.fields.uj) }));
}

/** The JSON reports of scaph-guest, as the guest printed them. */
export function consoleReports(events: readonly ConsoleEvent[]): Report[] {
  return events.filter((e) => e.kind === "report").map((e) => ({ ts: Number(e.fields.ts), uw: Number(e.fields.uw) }));
}

/** The guest's CPU use (% of its vCPUs, from its /proc/stat ticks) between the probes nearest to [fromS, toS] (guest s). */
export function guestCpuPercent(events: readonly ConsoleEvent[], fromS: number, toS: number): number {
  const p = events
    .filter((e) => e.kind === "probe" && e.fields.busy !== undefined)
    .map((e) => ({ t: Number(e.fields.s1), busy: Number(e.fields.busy), idle: Number(e.fields.idle) }))
    .filter((x) => x.t >= fromS && x.t <= toS);
  const a = p[0];
  const b = p[p.length - 1];
  if (!a || !b || a === b) return NaN;
  const total = b.busy - a.busy + (b.idle - a.idle);
  return total > 0 ? (100 * (b.busy - a.busy)) / total : NaN;
}

/** A lab guest's console file as it stands now, parsed. */
export async function consoleEvents(file: string): Promise<ConsoleEvent[]> {
  return parseConsole(await readFile(file, "utf8").catch(() => ""));
}

/** How many lines the guest's agent applied, from the given epochs (all when none are given). */
export async function appliedLines(file: string, epochs?: readonly string[]): Promise<number> {
  return (await consoleEvents(file)).filter(
    (e) => e.kind === "guest-log" && /applied epoch (\S+)/.test(e.raw) && (!epochs || epochs.includes(/applied epoch (\S+)/.exec(e.raw)![1]!)),
  ).length;
}

/** Waits for the guest's run to end (its `done` line): its console's events; on a timeout, the error ends with the console. */
export async function guestDone(name: string, file: string, timeoutMs = 200_000): Promise<ConsoleEvent[]> {
  return waitFor(
    `${name} to finish (console ${file})`,
    async () => {
      const e = await consoleEvents(file);
      return e.some((x) => x.kind === "done") ? e : null;
    },
    timeoutMs,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n--- console:\n${existsSync(file) ? readFileSync(file, "utf8").slice(-4000) : "(none)"}`);
  });
}
