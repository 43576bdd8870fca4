import { errorMessage } from "../errors.js";
import { createServer } from "node:http";
import { gzip, gzipSync } from "node:zlib";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Snapshot } from "../attribution/snapshot.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { MetricsModel, metricDef } from "./metrics.js";
import type { MetricSample, MetricsOptions } from "./metrics.js";
import type { Sink } from "./sink.js";
import { EXPOSITION_CONTENT_TYPE, renderExpositionBytes } from "./exposition.js";
import type { ExposedFamily } from "./exposition.js";

/** At most this many bytes of step pages are held by responses being sent (a page of 20,000 processes is about 8 MB). */
export const MAX_HELD_BYTES = 64 * 1024 * 1024;
/** A connection that neither sends nor reads for this long is closed (ms). */
export const IDLE_SEND_TIMEOUT_MS = 30_000;
/** Connections served at once; more are refused. */
export const MAX_CONNECTIONS = 256;
/** zlib level of gzipped pages: 1 makes an exposition about 8x smaller, at a fraction of level 6's time. */
export const GZIP_LEVEL = 1;

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

  constructor(private readonly options: PrometheusOptions) {
    this.log = options.log ?? silentLogger;
    this.model = new MetricsModel(options);
    this.families = modelFamilies(this.model);
  }

  write(s: Snapshot): void {
    this.model.update(s);
    // A scraper at least as fast as the step (it took the last page) will want this one: it is written
    // now, after the step, rather than in that scrape's time. A slower scraper's page is written when asked.
    if (this.server !== null && this.scrapedGeneration === this.model.generation - 1 && !this.prerender) {
      this.prerender = setImmediate(() => {
        this.prerender = null;
        this.pageFor(this.model.generation);
      });
    }
  }

  /** The generation of the newest page a scrape asked for. */
  private scrapedGeneration = -1;
  private prerender: NodeJS.Immediate | null = null;

  /** Writes the step's page of `generation` if it is still the newest and not yet written. */
  private pageFor(generation: number): void {
    if (generation === this.model.generation && this.stepPage?.generation !== generation) this.page();
  }

  /**
   * One more gauge, its samples read at each scrape from `samples` (what a
   * Snapshot does not hold: the qemu daemon's deliveries).
   */
  /** One more gauge, its samples (and their labels) made by `samples` at each scrape. */
  addGauge(name: string, help: string, samples: () => readonly MetricSample[]): void {
    this.families.push({ name, help, type: "gauge", samples });
  }

  /** The step's families as bytes, written once per step: every scrape until the next step sends this one Buffer. */
  private stepPage: { generation: number; bytes: Buffer; gzipped: Promise<Buffer> | null } | null = null;

  /**
   * The metrics page, as a scrape gets it: the step's families (written
   * once per step, the same bytes for every client, however slowly each
   * reads), then those read when asked (this process's, the disks', the
   * daemon's deliveries), a few kilobytes.
   */
  page(): [step: Buffer, asked: Buffer] {
    const split = this.families.findIndex((f) => MetricsModel.readWhenAsked(f.name));
    const stepFamilies = split < 0 ? this.families : this.families.slice(0, split);
    if (this.stepPage?.generation !== this.model.generation) {
      // the page before is a fair guess of this one's size: one allocation, seldom a copy
      const bytes = Buffer.from(renderExpositionBytes(stepFamilies, Math.ceil((this.stepPage?.bytes.length ?? 0) * 1.1)));
      this.stepPage = { generation: this.model.generation, bytes, gzipped: null };
    }
    return [this.stepPage.bytes, split < 0 ? Buffer.alloc(0) : renderExpositionBytes(this.families.slice(split), 8192)];
  }

  /**
   * The step's page gzipped, once per step for every client that asks for
   * gzip (Prometheus does), off the event loop (zlib's thread pool). A
   * response is two gzip members, this one and the few kilobytes read when
   * asked: a gzip stream may hold several (RFC 1952), read as one by Go's
   * reader, zlib's and curl's.
   */
  private gzippedStep(step: Buffer): Promise<Buffer> | null {
    const p = this.stepPage;
    if (p === null || p.bytes !== step) return null;
    p.gzipped ??= new Promise((resolve, reject) => gzip(step, { level: GZIP_LEVEL }, (err, out) => (err ? reject(err) : resolve(out))));
    return p.gzipped;
  }

  /** The metrics page as text. */
  exposition(): string {
    return this.page()
      .map((b) => b.toString("utf8"))
      .join("");
  }

  /**
   * The step pages that responses still being sent hold, by page, with how
   * many responses hold each: a reader that never reads holds one page, not
   * a copy, and no more than MAX_HELD_BYTES of pages are held at once.
   */
  private readonly held = new Map<Buffer, number>();
  private heldBytes = 0;

  /** What responses being sent hold: distinct pages, their bytes, and the responses. */
  heldPages(): { pages: number; bytes: number; responses: number } {
    let responses = 0;
    for (const n of this.held.values()) responses += n;
    return { pages: this.held.size, bytes: this.heldBytes, responses };
  }

  private hold(page: Buffer): boolean {
    const n = this.held.get(page) ?? 0;
    if (n === 0 && this.held.size > 0 && this.heldBytes + page.length > MAX_HELD_BYTES) return false;
    if (n === 0) this.heldBytes += page.length;
    this.held.set(page, n + 1);
    return true;
  }

  private release(page: Buffer): void {
    const n = this.held.get(page) ?? 0;
    if (n <= 1) {
      if (this.held.delete(page)) this.heldBytes -= page.length;
    } else this.held.set(page, n - 1);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || path !== `/${this.options.suffix}`) {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`404 Not Found: metrics are at /${this.options.suffix}\n`);
      return;
    }
    let step: Buffer;
    let asked: Buffer;
    try {
      [step, asked] = this.page();
    } catch (err) {
      this.log.error(`prometheus: scrape failed: ${errorMessage(err)}`);
      res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`scrape failed: ${errorMessage(err)}\n`);
      return;
    }
    this.scrapedGeneration = this.model.generation;
    if (!this.hold(step)) {
      this.log.warnOnce(
        "prometheus:held",
        `prometheus: clients that read slowly hold ${Math.round(this.heldBytes / 1048576)} MiB of older pages: a scrape is answered 503 until they finish or time out`,
      );
      res.writeHead(503, { "Content-Type": "text/plain; charset=utf-8", "Retry-After": "5" });
      res.end("503 Service Unavailable: too many slow readers\n");
      return;
    }
    res.once("close", () => this.release(step));
    const gzipped = acceptsGzip(req.headers["accept-encoding"]) ? this.gzippedStep(step) : null;
    if (gzipped === null) {
      res.writeHead(200, { "Content-Type": EXPOSITION_CONTENT_TYPE, "Content-Length": step.length + asked.length });
      res.write(step);
      res.end(asked);
      return;
    }
    gzipped.then(
      (zipped) => {
        if (res.destroyed) return;
        const tail = gzipSync(asked, { level: GZIP_LEVEL });
        res.writeHead(200, {
          "Content-Type": EXPOSITION_CONTENT_TYPE,
          "Content-Encoding": "gzip",
          "Content-Length": zipped.length + tail.length,
          Vary: "Accept-Encoding",
        });
        res.write(zipped);
        res.end(tail);
      },
      (err: unknown) => {
        this.log.warnOnce("prometheus:gzip", `prometheus: gzip failed (${errorMessage(err)}): pages are sent uncompressed`);
        if (res.destroyed) return;
        res.writeHead(200, { "Content-Type": EXPOSITION_CONTENT_TYPE, "Content-Length": step.length + asked.length });
        res.write(step);
        res.end(asked);
      },
    );
  }

  /** Starts the HTTP server; resolves with the URL of the metrics page. */
  async listen(): Promise<string> {
    const server = createServer(
      // A client gets this long to send its headers and its request; an idle keep-alive connection is closed sooner.
      { headersTimeout: 10_000, requestTimeout: 15_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 },
      (req, res) => this.handle(req, res),
    );
    server.maxHeadersCount = 100;
    // a client that reads nothing for this long is cut (and the page it held let go)
    server.timeout = IDLE_SEND_TIMEOUT_MS;
    server.maxConnections = MAX_CONNECTIONS;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port, this.options.address, () => resolve());
    });
    const a = server.address() as AddressInfo;
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/${this.options.suffix}`;
  }

  /** Stops serving: idle and slow connections (a client sending a byte a second) are closed at once. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (this.prerender) clearImmediate(this.prerender);
    this.prerender = null;
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
export function modelFamilies(model: MetricsModel): ExposedFamily[] {
  return model.names().map((name) => ({ name, ...metricDef(name), samples: () => model.samples(name) }));
}

/** Whether an Accept-Encoding header takes gzip (and does not refuse it with q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  for (const part of header.toLowerCase().split(",")) {
    const [coding, ...params] = part.trim().split(";");
    if (coding?.trim() !== "gzip" && coding?.trim() !== "x-gzip") continue;
    const q = params.map((x) => /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(x)?.[1]).find((x) => x !== undefined);
    return q === undefined || Number(q) > 0;
  }
  return false;
}
