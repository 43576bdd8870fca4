import type { Snapshot } from "../attribution/snapshot.js";

/** Cumulative energy (µJ) since the exporter started, by series key: what the counters export. */
export class EnergyTotals {
  readonly host = new Map<string, number>();
  readonly sockets = new Map<number, number>();
  readonly domains = new Map<string, { socket: number; name: string; zone: string; uj: number }>();
  readonly vms = new Map<string, number>();

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

  addVm(name: string, uj: number): void {
    this.vms.set(name, (this.vms.get(name) ?? 0) + uj);
  }
}
