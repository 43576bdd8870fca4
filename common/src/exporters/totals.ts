import type { Snapshot } from "../attribution/snapshot.js";
import type { ContainerInfo } from "../containers/info.js";

/** Cumulative energy (µJ) since the exporter started, by series: what the counters export. */
export class EnergyTotals {
  readonly host = new Map<string, number>();
  readonly sockets = new Map<number, number>();
  readonly domains = new Map<string, { socket: number; name: string; zone: string; uj: number }>();
  /** By VM key: its name and labels as last seen, its energy, and how many updates ago it was last seen. */
  readonly vms = new Map<string, { name: string; labels: Record<string, string>; uj: number; age: number }>();
  /** By container key (ContainerInfo.key): what is known of it as last seen, its energy, and how many updates ago it was last seen. */
  readonly containers = new Map<string, { container: ContainerInfo; uj: number; age: number }>();
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
    for (const v of this.vms.values()) v.age++;
    for (const v of s.vms) {
      const cur = this.vms.get(v.key);
      this.vms.set(v.key, { name: v.name, labels: vmLabels(v), uj: (cur?.uj ?? 0) + v.energyUj, age: 0 });
    }
    for (const [key, v] of this.vms) if (v.age >= EnergyTotals.GONE_AFTER) this.vms.delete(key);
    for (const c of this.containers.values()) c.age++;
    for (const c of s.containers ?? []) {
      const cur = this.containers.get(c.container.key);
      this.containers.set(c.container.key, { container: c.container, uj: (cur?.uj ?? 0) + c.energyUj, age: 0 });
    }
    for (const [id, c] of this.containers) if (c.age >= EnergyTotals.GONE_AFTER) this.containers.delete(id);
  }
}

/** A VM's extra labels: its uuid where known, and those its resolver found (the Nova instance...). */
export function vmLabels(v: { uuid: string | null; labels?: Readonly<Record<string, string>> }): Record<string, string> {
  return { ...(v.uuid ? { uuid: v.uuid } : {}), ...v.labels };
}
