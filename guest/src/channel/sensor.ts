import { CounterReadError, zoneOf } from "@scaph/common";
import type { EnergySample, Sensor, Zone } from "@scaph/common";
import type { ChannelReceiver } from "./receiver.js";

/**
 * A Sensor over the channel receiver: the tree's counters, timed by the
 * receiver's power clock (the host time each line covers, summed), so power
 * is energy over the host's own interval, a guest step never aliases with
 * the host's (one guest step seeing no line, the next seeing two), and no
 * interval is ever <= 0, whatever the hosts' clocks do across a migration.
 * A guest step with no new line since the last is skipped (quietly), and
 * the next measures from the last line.
 */
export class ChannelSensor implements Sensor {
  readonly name = "channel";
  readonly estimated = false;
  private lastClockS = -1;

  constructor(
    private readonly receiver: ChannelReceiver,
    private readonly tree: string,
  ) {}

  valueSource(): string {
    return "powercap_rapl_pkg";
  }

  zones(): readonly Zone[] {
    return (this.receiver.latest?.zones ?? []).map((z) => this.zone(z.zone, z.name, z.max));
  }

  /** A zone of the tree the receiver keeps (its ids come from checked lines: always a zone's). */
  private zone(id: string, name: string, max: number): Zone {
    return (
      zoneOf(id, `${this.tree}/${id}`, name, max) ?? { id, path: `${this.tree}/${id}`, name, kind: "package", socket: 0, parent: null, maxEnergyRangeUj: max }
    );
  }

  read(): EnergySample {
    const latest = this.receiver.latest;
    if (!latest) throw new CounterReadError("no line from the host yet", { quiet: true });
    if (latest.clockS === this.lastClockS) throw new CounterReadError("no new line from the host since the last step", { quiet: true });
    this.lastClockS = latest.clockS;
    return {
      monotonicNs: BigInt(Math.round(latest.clockS * 1e9)),
      timestampS: latest.t,
      readings: latest.zones.map((z) => ({ zone: this.zone(z.zone, z.name, z.max), energyUj: z.value })),
    };
  }
}
