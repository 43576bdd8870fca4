import { errorMessage } from "../errors.js";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Snapshot } from "../attribution/snapshot.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { MetricsModel, metricDef, metricNames } from "./metrics.js";
import type { MetricSample, MetricsOptions } from "./metrics.js";
import type { Sink } from "./sink.js";
import { EXPOSITION_CONTENT_TYPE, renderExposition } from "./exposition.js";
import type { ExposedFamily } from "./exposition.js";

export interface PrometheusOptions extends MetricsOptions {
  address: string;
  port: number;
  /** Path of the metrics page, without the leading slash (Scaphandre: `metrics`). */
  suffix: string;
  log?: Logger;
}

/**
 * The Prometheus exporter of scaph-host and scaph-guest: a sink of the
 * measurement loop. A scrape serves the newest Snapshot (the exposition is
 * written from the model), so it never waits on /proc, is never older than
 * one step, and never freezes (Scaphandre #434).
 */
export class PrometheusExporter implements Sink {
  readonly name = "prometheus";
  readonly model: MetricsModel;
  private readonly families: ExposedFamily[];
  private server: Server | null = null;
  private readonly log: Logger;

  constructor(private readonly o: PrometheusOptions) {
    this.log = o.log ?? silentLogger;
    this.model = new MetricsModel(o);
    this.families = modelFamilies(this.model, o);
  }

  write(s: Snapshot): void {
    this.model.update(s);
  }

  /**
   * One more gauge, its samples read at each scrape from `samples` (what a
   * Snapshot does not hold: the qemu daemon's deliveries).
   */
  /** One more gauge, its samples (and their labels) made by `samples` at each scrape. */
  addGauge(name: string, help: string, samples: () => readonly MetricSample[]): void {
    this.families.push({ name, help, type: "gauge", samples });
  }

  /** The text of the step's families, written once per step (scrapes between two steps share it). */
  private stepText: { generation: number; text: string } | null = null;

  /**
   * The metrics page, as a scrape gets it: the step's families (written
   * once per step), then those read when asked (this process's, the
   * disks', the daemon's deliveries).
   */
  exposition(): string {
    const split = this.families.findIndex((f) => MetricsModel.readWhenAsked(f.name));
    const stepFamilies = split < 0 ? this.families : this.families.slice(0, split);
    if (this.stepText?.generation !== this.model.generation) this.stepText = { generation: this.model.generation, text: renderExposition(stepFamilies) };
    return this.stepText.text + (split < 0 ? "" : renderExposition(this.families.slice(split)));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || path !== `/${this.o.suffix}`) {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`404 Not Found: metrics are at /${this.o.suffix}\n`);
      return;
    }
    try {
      const body = this.exposition();
      res.writeHead(200, { "Content-Type": EXPOSITION_CONTENT_TYPE });
      res.end(body);
    } catch (err) {
      this.log.error(`prometheus: scrape failed: ${errorMessage(err)}`);
      res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`scrape failed: ${errorMessage(err)}\n`);
    }
  }

  /** Starts the HTTP server; resolves with the URL of the metrics page. */
  async listen(): Promise<string> {
    const server = createServer(
      // A client gets this long to send its headers and its request; an idle keep-alive connection is closed sooner.
      { headersTimeout: 10_000, requestTimeout: 15_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 },
      (req, res) => void this.handle(req, res),
    );
    server.maxHeadersCount = 100;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.o.port, this.o.address, () => resolve());
    });
    const a = server.address() as AddressInfo;
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/${this.o.suffix}`;
  }

  /** Stops serving: idle and slow connections (a client sending a byte a second) are closed at once. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    s.closeIdleConnections();
    // A scrape being answered gets a moment to finish; anything still open then is cut.
    const cut = setTimeout(() => s.closeAllConnections(), 500);
    await closed;
    clearTimeout(cut);
  }
}

/** The model's metric families, their samples read at each scrape or push. */
export function modelFamilies(model: MetricsModel, o: MetricsOptions): ExposedFamily[] {
  return model.names().map((name) => ({ name, ...metricDef(name), samples: () => model.samples(name) }));
}
