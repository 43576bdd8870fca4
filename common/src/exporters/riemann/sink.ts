import { errorMessage } from "../../errors.js";
import { hostname } from "node:os";
import type { Snapshot } from "../../attribution/snapshot.js";
import type { Logger } from "../../log.js";
import { metricDef } from "../metrics.js";
import type { MetricsModel, MetricsOptions } from "../metrics.js";
import { SendingSink } from "../push/sending-sink.js";
import { RiemannClient } from "./client.js";
import type { RiemannTls } from "./client.js";
import { encodeFrame, loadRiemannProto } from "./proto.js";
import type { RiemannEvent } from "./proto.js";

export interface RiemannOptions extends MetricsOptions {
  host: string;
  port: number;
  tls?: RiemannTls;
  log: Logger;
  timeoutMs?: number;
  backoff?: { minMs: number; maxMs: number };
  /** The `host` of the events (default: this host's name). */
  eventHost?: string;
}

const PROCESS_POWER = "scaph_process_power_consumption_microwatts";

/**
 * Every metric of the Prometheus exporter as Riemann events, as Scaphandre
 * sends them: service = the metric's name (a process's power:
 * `scaph_process_power_consumption_microwatts_<pid>_<exe>`), host, the labels
 * as attributes, tag `scaphandre`, ttl 60 s, state ok, the value as a double.
 */
export function riemannEvents(model: MetricsModel, timestampS: number, host: string): RiemannEvent[] {
  const events: RiemannEvent[] = [];
  const time = Math.floor(timestampS);
  const timeMicros = Math.round(timestampS * 1e6);
  for (const name of model.names()) {
    const description = metricDef(name).help;
    for (const s of model.samples(name)) {
      events.push({
        time,
        time_micros: timeMicros,
        state: "ok",
        service: name === PROCESS_POWER ? `${name}_${s.labels.pid ?? ""}_${s.labels.exe ?? ""}` : name,
        host,
        description,
        tags: ["scaphandre"],
        ttl: 60,
        attributes: Object.entries(s.labels).map(([key, value]) => ({ key, value })),
        metric_d: s.value,
      });
    }
  }
  return events;
}

/**
 * The riemann exporter: every step (its --dispatch), all the events in one
 * Msg over one TCP or mutual-TLS connection, answered ok by the server. A
 * server down or gone: the events of that step are counted and logged as
 * not delivered, the connection is tried again with a backoff, and
 * measuring goes on.
 */
export class RiemannSink extends SendingSink<RiemannEvent[]> {
  readonly client: RiemannClient;
  private readonly eventHost: string;

  constructor(private readonly options: RiemannOptions) {
    super("riemann", "events", options, options.timeoutMs ?? 5000);
    this.eventHost = options.eventHost ?? hostname();
    this.client = new RiemannClient({
      host: options.host,
      port: options.port,
      timeoutMs: this.timeoutMs,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
    });
  }

  protected payload(s: Snapshot): { data: RiemannEvent[]; items: number } {
    const events = riemannEvents(this.model, s.timestampS, this.eventHost);
    return { data: events, items: events.length };
  }

  protected async send(events: RiemannEvent[]): Promise<void> {
    try {
      await loadRiemannProto();
      await this.client.send(encodeFrame({ events }));
      this.health.ok(events.length, " in one message");
    } catch (err) {
      this.health.fail(`${this.options.host}:${this.options.port}: ${errorMessage(err)}`, events.length);
    }
  }

  override async close(): Promise<void> {
    await super.close();
    this.client.close();
  }
}

// The wire format, for a Riemann peer of one's own (the tests' server decodes with the same .proto).
export { decodeMsg, encodeFrame, loadRiemannProto, takeFrames } from "./proto.js";
export type { RiemannEvent, RiemannMsg } from "./proto.js";
