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

/** Energy a guest reported: Σ power × interval over its JSON reports (µJ); the first interval is one step. */
export function reportedEnergyUj(events: readonly ConsoleEvent[], stepS: number): { uj: number; firstTs: number; lastTs: number } {
  const reps = events.filter((e) => e.kind === "report").map((e) => ({ ts: Number(e.fields.ts), uw: Number(e.fields.uw) }));
  let uj = 0;
  reps.forEach((r, i) => {
    const dt = i === 0 ? stepS : r.ts - (reps[i - 1]?.ts ?? r.ts);
    uj += r.uw * dt;
  });
  return { uj, firstTs: (reps[0]?.ts ?? NaN) - stepS, lastTs: reps[reps.length - 1]?.ts ?? NaN };
}
