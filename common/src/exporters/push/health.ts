import { LogEvery } from "../../log.js";
import type { Logger } from "../../log.js";

/** While a peer keeps failing, a reminder at most this often (ms). */
export const FAILING_REMINDER_MS = 60_000;

/**
 * How a network exporter's deliveries go: counts what was sent and what was
 * not, and logs by state, not by send: one WARN when deliveries start to
 * fail (with the reason), then while they keep failing at most one WARN a
 * minute with the count and the last reason (a reason that changes at every
 * send, a countdown, a server's changing error page, floods nobody), and one
 * line when delivery is back. Each send is logged at debug. Measuring goes
 * on whatever the peer does.
 */
export class PeerHealth {
  /** Items (events, series) delivered since start. */
  sent = 0;
  /** Items not delivered since start. */
  lost = 0;
  /** Sends that failed since start. */
  failures = 0;
  private failing = false;
  private lostSinceOk = 0;
  private failuresSinceSaid = 0;
  private readonly reminder: LogEvery;

  constructor(
    private readonly name: string,
    private readonly unit: string,
    private readonly log: Logger,
    now: () => number = Date.now,
  ) {
    this.reminder = new LogEvery(FAILING_REMINDER_MS, now);
  }

  ok(items: number, what = ""): void {
    this.sent += items;
    if (this.failing) this.log.warn(`${this.name}: delivering again (${this.lostSinceOk} ${this.unit} were not delivered meanwhile)`);
    this.failing = false;
    this.lostSinceOk = 0;
    this.log.debug(`${this.name}: sent ${items} ${this.unit}${what}, ${this.sent} in all`);
  }

  fail(reason: string, items: number): void {
    this.failures++;
    this.lost += items;
    this.lostSinceOk += items;
    this.failuresSinceSaid++;
    const first = !this.failing;
    this.failing = true;
    if (!first && !this.reminder.ready()) {
      this.log.debug(`${this.name}: ${reason}: ${items} ${this.unit} not delivered, ${this.lost} in all`);
      return;
    }
    if (first) this.log.warn(`${this.name}: ${reason}: ${items} ${this.unit} not delivered (measuring goes on; ${this.lost} not delivered in all)`);
    else
      this.log.warn(
        `${this.name}: still not delivering: ${this.failuresSinceSaid} sends failed since the last word, ${this.lostSinceOk} ${this.unit} not delivered since the last delivery; the last reason: ${reason}`,
      );
    this.reminder.said();
    this.failuresSinceSaid = 0;
  }
}
