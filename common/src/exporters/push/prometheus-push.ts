import { hostname } from "node:os";
import type { Snapshot } from "../../attribution/snapshot.js";
import type { Logger } from "../../log.js";
import { MetricsModel } from "../metrics.js";
import type { MetricsOptions } from "../metrics.js";
import { registryFor } from "../prometheus.js";
import type { Sink } from "../sink.js";
import { PeerHealth } from "./health.js";
import { Background, post } from "./post.js";

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
 * metrics pushed). Failures are logged, never fatal, never block the loop.
 */
export class PrometheusPushSink implements Sink {
  readonly name = "prometheus-push";
  readonly model: MetricsModel;
  readonly health: PeerHealth;
  readonly url: URL;
  private readonly registry;
  private readonly bg = new Background();

  constructor(private readonly o: PushOptions) {
    this.model = new MetricsModel(o);
    this.registry = registryFor(this.model, o);
    this.health = new PeerHealth("prometheus-push", "series", o.log);
    this.url = pushUrl(o.base, o.suffix, o.job, o.instance ?? hostname());
  }

  write(s: Snapshot): void {
    this.model.update(s);
    if (!this.bg.run(() => this.send())) this.health.fail("the previous push is still running", 0);
  }

  private async send(): Promise<void> {
    const text = await this.registry.metrics();
    const series = text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
    try {
      const r = await post(this.url, text, {
        headers: { "Content-Type": this.registry.contentType },
        timeoutMs: this.o.timeoutMs ?? 5_000,
        insecure: this.o.insecure ?? false,
      });
      if (r.status >= 200 && r.status < 300) this.health.ok(series);
      else this.health.fail(`${this.url.href} answered ${r.status}${r.body ? `: ${r.body.split("\n")[0]}` : ""}`, series);
    } catch (err) {
      this.health.fail(`${this.url.href}: ${(err as Error).message}`, series);
    }
  }

  async close(): Promise<void> {
    await this.bg.settle(this.o.timeoutMs ?? 5_000);
  }
}
