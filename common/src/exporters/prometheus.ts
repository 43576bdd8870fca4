import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Registry } from "prom-client";
import type { Snapshot } from "../attribution/snapshot.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { MetricsModel, metricDef, metricNames } from "./metrics.js";
import type { MetricSample, MetricsOptions } from "./metrics.js";
import type { Sink } from "./sink.js";

export interface PrometheusOptions extends MetricsOptions {
  address: string;
  port: number;
  /** Path of the metrics page, without the leading slash (Scaphandre: `metrics`). */
  suffix: string;
  log?: Logger;
}

/**
 * The Prometheus exporter of scaph-host and scaph-guest: a sink of the
 * measurement loop. A scrape serves the newest Snapshot (prom-client's
 * `collect` reads the model), so it never waits on /proc, is never older than
 * one step, and never freezes (Scaphandre #434).
 */
export class PrometheusExporter implements Sink {
  readonly name = "prometheus";
  readonly registry: Registry;
  readonly model: MetricsModel;
  private server: Server | null = null;
  private readonly log: Logger;

  constructor(private readonly o: PrometheusOptions) {
    this.log = o.log ?? silentLogger;
    this.model = new MetricsModel(o);
    this.registry = registryFor(this.model, o);
  }

  write(s: Snapshot): void {
    this.model.update(s);
  }

  /**
   * One more gauge, its samples read at each scrape from `samples` (what a
   * Snapshot does not hold: the qemu daemon's deliveries).
   */
  addGauge(name: string, help: string, labelNames: readonly string[], samples: () => readonly MetricSample[]): void {
    new Gauge({
      name,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
      collect(this: Gauge) {
        this.reset();
        for (const s of samples()) this.set(s.labels, s.value);
      },
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || path !== `/${this.o.suffix}`) {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`404 Not Found: metrics are at /${this.o.suffix}\n`);
      return;
    }
    try {
      const body = await this.registry.metrics();
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
      res.end(body);
    } catch (err) {
      this.log.error(`prometheus: scrape failed: ${String(err)}`);
      res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`scrape failed: ${String(err)}\n`);
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

/** A prom-client registry whose metrics are the model's, read at each collection (a scrape, a push). */
export function registryFor(model: MetricsModel, o: MetricsOptions): Registry {
  const registry = new Registry();
  for (const name of metricNames(o.qemu)) {
    const def = metricDef(name);
    const labelNames = labelsOf(name, o);
    const collect = function (this: Gauge | Counter): void {
      this.reset();
      for (const s of model.samples(name)) {
        if (this instanceof Counter) this.inc(s.labels, s.value);
        else this.set(s.labels, s.value);
      }
    };
    const config = { name, help: def.help, labelNames, registers: [registry], collect };
    if (def.type === "counter") new Counter(config);
    else new Gauge(config);
  }
  return registry;
}

/** The label names a metric can carry (prom-client wants them declared). */
function labelsOf(name: string, o: MetricsOptions): string[] {
  if (name.startsWith("scaph_process_")) return ["pid", "exe", ...((o.cmdlineMax ?? 1) > 0 ? ["cmdline"] : []), ...(o.qemu ? ["vmname"] : [])];
  if (name.startsWith("scaph_vm_")) return ["vmname", "uuid", "nova_instance", "nova_project"];
  if (name.startsWith("scaph_domain_")) return ["domain_name", "domain_id", "socket_id"];
  if (name.startsWith("scaph_socket_")) return ["socket_id"];
  if (name === "scaph_host_energy_timestamp_seconds") return [];
  if (name === "scaph_host_power_microwatts" || name.startsWith("scaph_host_energy")) return ["value_source"];
  if (name.startsWith("scaph_host_disk_")) return ["disk_file_system", "disk_mount_point", "disk_type", "disk_is_removable", "disk_name"];
  if (name === "scaph_self_version") return ["version"];
  return [];
}
