import { errorMessage } from "../../errors.js";
import type { Snapshot } from "../../attribution/snapshot.js";
import type { Logger } from "../../log.js";
import type { MetricsModel, MetricsOptions } from "../metrics.js";
import { post } from "./post.js";
import { SendingSink } from "./sending-sink.js";

export interface Warp10Options extends MetricsOptions {
  /** `http(s)://host:port`. */
  base: URL;
  token: string;
  log: Logger;
  timeoutMs?: number;
}

/**
 * A class name, label name or label value as Warp 10's input format takes
 * it: percent-encoded UTF-8; a lone surrogate (half a character, which
 * encodeURIComponent throws on) as U+FFFD.
 */
export const gtsEncode = (s: string): string =>
  encodeURIComponent(s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD"));

/** A value as a Warp 10 DOUBLE (an integer too: a series keeps one type). */
function gtsValue(v: number): string {
  return Number.isInteger(v) ? `${v}.0` : String(v);
}

/** Every series of the model as Warp 10 GTS input lines: `<ts µs>// <class>{<labels>} <value>`. */
export function gtsLines(model: MetricsModel, tsMicros: number): string[] {
  const lines: string[] = [];
  for (const name of model.names()) {
    for (const s of model.samples(name)) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${gtsEncode(k)}=${gtsEncode(v)}`)
        .join(",");
      lines.push(`${tsMicros}// ${gtsEncode(name)}{${labels}} ${gtsValue(s.value)}`);
    }
  }
  return lines;
}

/**
 * The warp10 exporter: every step, all the metrics of the Prometheus
 * exporter in one POST to `/api/v0/update` with the write token. A refusal
 * (403 for a wrong token) or a network failure is logged, never fatal.
 */
export class Warp10Sink extends SendingSink<string[]> {
  private readonly url: URL;

  constructor(private readonly options: Warp10Options) {
    super("warp10", "series", options, options.timeoutMs ?? 10_000);
    this.url = new URL("/api/v0/update", options.base);
  }

  protected payload(s: Snapshot): { data: string[]; items: number } {
    const lines = gtsLines(this.model, Math.round(s.timestampS * 1e6));
    return { data: lines, items: lines.length };
  }

  protected async send(lines: string[]): Promise<void> {
    try {
      const r = await post(this.url, lines.join("\n") + "\n", {
        headers: { "X-Warp10-Token": this.options.token, "Content-Type": "text/plain; charset=utf-8" },
        timeoutMs: this.timeoutMs,
      });
      if (r.status >= 200 && r.status < 300) this.health.ok(lines.length);
      else this.health.fail(`${this.url.href} answered ${r.status}${r.body ? `: ${r.body.split("\n")[0]}` : ""}`, lines.length);
    } catch (err) {
      this.health.fail(`${this.url.href}: ${errorMessage(err)}`, lines.length);
    }
  }
}
