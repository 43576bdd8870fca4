import type { Background } from "./processes.js";
import { freePort, startBackground, waitFor } from "./processes.js";

/** Starts an exporter CLI and waits until it says where it serves. */
export async function startExporter(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ bg: Background; url: string }> {
  const bg = startBackground(process.execPath, args, env);
  const url = await waitFor("the exporter to listen", () => {
    if (bg.child.exitCode !== null) throw new Error(`exited ${bg.child.exitCode}: ${bg.output()}`);
    const m = /serving metrics at (\S+)/.exec(bg.output());
    return m ? (m[1] as string) : null;
  });
  return { bg, url: url.replace("[::]", "127.0.0.1").replace("0.0.0.0", "127.0.0.1") };
}

/** `BIN prometheus` on 127.0.0.1 and a free port, with `args`: started, and where it serves. */
export async function startPrometheusOf(bin: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ bg: Background; url: string }> {
  return startExporter([bin, "prometheus", "-a", "127.0.0.1", "-p", String(await freePort()), ...args], env);
}

export async function scrape(url: string): Promise<string> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

/**
 * Scrapes until the exporter serves a measurement taken after `afterMs`
 * (Unix ms; scaph_self_last_step_timestamp_seconds), so that a change made
 * to a fixture before `afterMs` is in what it returns. scaph-guest times a
 * reading by the host's clock instead: `metric` scaph_host_energy_timestamp_seconds.
 */
export async function scrapeAfter(url: string, afterMs: number, timeoutMs = 15_000, metric = "scaph_self_last_step_timestamp_seconds"): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const body = await scrape(url);
    const t = sample(body, metric);
    if (t !== null && t * 1000 > afterMs) return body;
    if (Date.now() > end) throw new Error(`no measurement after ${new Date(afterMs).toISOString()} within ${timeoutMs} ms (last ${metric}: ${t})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The value of the first sample of `metric` whose labels contain every `labels` fragment. */
export function sample(body: string, metric: string, ...labels: string[]): number | null {
  for (const line of body.split("\n")) {
    if (!line.startsWith(metric + "{") && !line.startsWith(metric + " ")) continue;
    if (labels.every((l) => line.includes(l))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return null;
}

export { promtoolLint, promtoolProblems } from "@scaph/test-support";
