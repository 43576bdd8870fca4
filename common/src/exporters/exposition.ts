/**
 * Prometheus's text exposition format (version 0.0.4), written straight
 * from the metrics model into one string: a scrape of every process of a
 * busy host costs a few milliseconds. Each label set is escaped and joined
 * once per step (a process's, shared by its four families), however many
 * scrapes read it.
 */
import type { MetricSample } from "./metrics.js";

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A metric family as the exposition writes it: its samples read when asked. */
export interface ExposedFamily {
  name: string;
  help: string;
  type: "gauge" | "counter";
  samples(): readonly MetricSample[];
}

const escapeLabel = (v: string): string => (/[\\"\n]/.test(v) ? v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"') : v);
const escapeHelp = (v: string): string => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** `{k="v",...}` of a label set (empty for none); the same object is formatted once. */
const labelTexts = new WeakMap<Record<string, string>, string>();
function labelText(labels: Record<string, string>): string {
  let t = labelTexts.get(labels);
  if (t === undefined) {
    const parts: string[] = [];
    for (const k in labels) parts.push(`${k}="${escapeLabel(labels[k] as string)}"`);
    t = parts.length > 0 ? `{${parts.join(",")}}` : "";
    labelTexts.set(labels, t);
  }
  return t;
}

function valueText(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** The exposition of `families`, in their order: HELP, TYPE, one line per sample, a blank line after each family. */
export function renderExposition(families: readonly ExposedFamily[]): string {
  let out = "";
  for (const f of families) {
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples()) out += `${f.name}${labelText(s.labels)} ${valueText(s.value)}\n`;
    out += "\n";
  }
  return out;
}
