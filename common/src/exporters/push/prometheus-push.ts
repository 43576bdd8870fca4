import { errorMessage } from "../../errors.js";
import { hostname } from "node:os";
import type { Logger } from "../../log.js";
import type { MetricsOptions } from "../metrics.js";
import { EXPOSITION_CONTENT_TYPE, renderExposition } from "../exposition.js";
import type { ExposedFamily } from "../exposition.js";
import { modelFamilies } from "../prometheus.js";
import { post } from "./post.js";
import { SendingSink } from "./sending-sink.js";

export interface PushOptions extends MetricsOptions {
  /** `http(s)://host:port`. */
  base: URL;
  /** Path before /job/... (Scaphandre: `metrics`). */
  suffix: string;
  job: string;
  /** The `instance` of the grouping key (default: this host's name). */
  instance?: string;
  /** https: accept any certificate. */
  insecure?: boolean;
  log: Logger;
  timeoutMs?: number;
}

/** The Pushgateway URL of a job and instance: `<base>/<suffix>/job/<job>/instance/<instance>`. */
export function pushUrl(base: URL, suffix: string, job: string, instance: string): URL {
  const path = [suffix.replace(/^\/+|\/+$/g, ""), "job", encodeURIComponent(job), "instance", encodeURIComponent(instance)].filter(Boolean).join("/");
  return new URL(`/${path}`, base);
}

/**
 * The prometheus-push exporter: every step, the Prometheus exporter's
 * metrics in the text format, POSTed to a Pushgateway under the grouping
 * key job and instance (the Pushgateway then replaces the series of the
 * metrics pushed). Failures are logged, never fatal.
 */
export class PrometheusPushSink extends SendingSink<null> {
  readonly url: URL;
  private readonly families: ExposedFamily[];

  constructor(private readonly options: PushOptions) {
    super("prometheus-push", "series", options, options.timeoutMs ?? 5_000);
    this.families = modelFamilies(this.model);
    this.url = pushUrl(options.base, options.suffix, options.job, options.instance ?? hostname());
  }

  /** Series in the last push: what a push skipped (the one before still running) would have held. */
  private lastSeries = 0;

  protected payload(): { data: null; items: number } {
    return { data: null, items: this.lastSeries }; // the text is made when sent
  }

  protected async send(): Promise<void> {
    const text = renderExposition(this.families);
    const series = text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
    this.lastSeries = series;
    try {
      const r = await post(this.url, text, {
        headers: { "Content-Type": EXPOSITION_CONTENT_TYPE },
        timeoutMs: this.timeoutMs,
        insecure: this.options.insecure ?? false,
      });
      if (r.status >= 200 && r.status < 300) this.health.ok(series);
      else this.health.fail(`${this.url.href} answered ${r.status}${r.body ? `: ${r.body.split("\n")[0]}` : ""}`, series);
    } catch (err) {
      this.health.fail(`${this.url.href}: ${errorMessage(err)}`, series);
    }
  }
}
