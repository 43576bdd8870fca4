import type { Snapshot } from "../attribution/snapshot.js";

/** Cumulative energy (µJ) since the exporter started, by series key: what the counters export. */
export class EnergyTotals {
  readonly host = new Map<string, number>();
  readonly sockets = new Map<number, number>();
  readonly domains = new Map<string, { socket: number; name: string; zone: string; uj: number }>();
  readonly vms = new Map<string, number>();
  /** Updates since each VM was last seen. */
  private readonly vmAge = new Map<string, number>();
  /** A VM that was not in this many updates leaves the exposition (so VMs that came and went do not pile up). */
  static readonly GONE_AFTER = 3;

  add(s: Snapshot): void {
    this.host.set(s.valueSource, (this.host.get(s.valueSource) ?? 0) + s.host.energyUj);
    for (const k of s.sockets) {
      this.sockets.set(k.id, (this.sockets.get(k.id) ?? 0) + k.energyUj);
      for (const d of k.domains) {
        const key = `${k.id}/${d.zone}`;
        const cur = this.domains.get(key);
        this.domains.set(key, { socket: k.id, name: d.name, zone: d.zone, uj: (cur?.uj ?? 0) + d.energyUj });
      }
    }
  }

  /** Adds the VMs of one update; VMs absent for GONE_AFTER updates are dropped. */
  addVms(list: readonly { name: string; energyUj: number }[]): void {
    for (const [name, age] of this.vmAge) this.vmAge.set(name, age + 1);
    for (const v of list) {
      this.vms.set(v.name, (this.vms.get(v.name) ?? 0) + v.energyUj);
      this.vmAge.set(v.name, 0);
    }
    for (const [name, age] of this.vmAge) {
      if (age < EnergyTotals.GONE_AFTER) continue;
      this.vms.delete(name);
      this.vmAge.delete(name);
    }
  }
}
