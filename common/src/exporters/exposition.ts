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

/** `{k="v",...}` of a label set (empty for none), as UTF-8 bytes; the same object is formatted once. */
const labelBytes = new WeakMap<Record<string, string>, Buffer>();
const NO_LABELS = Buffer.alloc(0);
function labelText(labels: Record<string, string>): Buffer {
  let t = labelBytes.get(labels);
  if (t === undefined) {
    const parts: string[] = [];
    for (const k in labels) parts.push(`${k}="${escapeLabel(labels[k] as string)}"`);
    t = parts.length > 0 ? Buffer.from(`{${parts.join(",")}}`) : NO_LABELS;
    labelBytes.set(labels, t);
  }
  return t;
}

function valueText(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/**
 * Bytes appended to one growing Buffer: a page of every process of a busy
 * host is tens of thousands of lines, and joining them as strings made more
 * garbage than page (the young generation is 1 MB: see the bin's flags).
 */
class PageWriter {
  private buf: Buffer;
  private n = 0;

  constructor(sizeHint: number) {
    this.buf = Buffer.allocUnsafe(Math.max(4096, sizeHint));
  }

  private room(bytes: number): void {
    if (this.n + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + bytes));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }

  bytes(b: Buffer): void {
    this.room(b.length);
    this.n += b.copy(this.buf, this.n);
  }

  /** ASCII text (names, numbers). */
  ascii(t: string): void {
    this.room(t.length);
    this.n += this.buf.write(t, this.n, "latin1");
  }

  /** Any text (help strings). */
  text(t: string): void {
    this.bytes(Buffer.from(t));
  }

  done(): Buffer {
    return this.buf.subarray(0, this.n);
  }
}

/** The exposition of `families`, in their order: HELP, TYPE, one line per sample, a blank line after each family. */
export function renderExpositionBytes(families: readonly ExposedFamily[], sizeHint = 64 * 1024): Buffer {
  const w = new PageWriter(sizeHint);
  for (const f of families) {
    w.text(`# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`);
    for (const s of f.samples()) {
      w.ascii(f.name); // metric names are [a-zA-Z_:][a-zA-Z0-9_:]*
      w.bytes(labelText(s.labels));
      w.ascii(` ${valueText(s.value)}\n`);
    }
    w.ascii("\n");
  }
  return w.done();
}

/** renderExpositionBytes as text. */
export function renderExposition(families: readonly ExposedFamily[]): string {
  return renderExpositionBytes(families).toString("utf8");
}
