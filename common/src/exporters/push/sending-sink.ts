import type { Snapshot } from "../../attribution/snapshot.js";
import type { Logger } from "../../log.js";
import { MetricsModel } from "../metrics.js";
import type { MetricsOptions } from "../metrics.js";
import type { Sink } from "../sink.js";
import { PeerHealth } from "./health.js";
import { Background } from "./post.js";

/**
 * An exporter that sends (riemann, warp10, prometheus-push): each Snapshot
 * updates the metrics model, then its payload goes out in the background,
 * one send at a time; a send asked for while one runs is counted as not
 * delivered (the next carries newer values). The loop never waits on a peer.
 */
export abstract class SendingSink<P> implements Sink {
  readonly model: MetricsModel;
  readonly health: PeerHealth;
  private readonly bg = new Background();

  constructor(
    readonly name: string,
    unit: string,
    options: MetricsOptions & { log: Logger },
    protected readonly timeoutMs: number,
  ) {
    this.model = new MetricsModel(options);
    this.health = new PeerHealth(name, unit, options.log);
  }

  /** What to send for this Snapshot (read from the model, updated), and how many items (events, series) it holds. */
  protected abstract payload(s: Snapshot): { data: P; items: number };
  /** Sends it; reports to `health` itself (ok or fail), never throws. */
  protected abstract send(data: P, items: number): Promise<void>;

  write(s: Snapshot): void {
    this.model.update(s);
    const { data, items } = this.payload(s);
    if (!this.bg.run(() => this.send(data, items))) this.health.fail("the previous send is still running", items);
  }

  async close(): Promise<void> {
    await this.bg.settle(this.timeoutMs);
  }
}
