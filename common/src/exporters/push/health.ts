import type { Logger } from "../../log.js";

/**
 * How a network exporter's deliveries go: counts what was sent and what was
 * not, warns at the first failure (and when its reason changes), says when
 * delivery is back, and logs each delivery at debug. Measuring goes on
 * whatever the peer does.
 */
export class PeerHealth {
  /** Items (events, series) delivered since start. */
  sent = 0;
  /** Items not delivered since start. */
  lost = 0;
  /** Sends that failed since start. */
  failures = 0;
  private lastError: string | null = null;
  private lostSinceOk = 0;

  constructor(
    private readonly name: string,
    private readonly unit: string,
    private readonly log: Logger,
  ) {}

  ok(items: number, what = ""): void {
    this.sent += items;
    if (this.lastError !== null) this.log.warn(`${this.name}: delivering again (${this.lostSinceOk} ${this.unit} were not delivered meanwhile)`);
    this.lastError = null;
    this.lostSinceOk = 0;
    this.log.debug(`${this.name}: sent ${items} ${this.unit}${what}, ${this.sent} in all`);
  }

  fail(reason: string, items: number): void {
    this.failures++;
    this.lost += items;
    this.lostSinceOk += items;
    if (reason !== this.lastError) this.log.warn(`${this.name}: ${reason}: ${items} ${this.unit} not delivered (measuring goes on; ${this.lost} not delivered in all)`);
    else this.log.debug(`${this.name}: ${reason}: ${items} ${this.unit} not delivered, ${this.lost} in all`);
    this.lastError = reason;
  }
}
