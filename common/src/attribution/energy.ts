import { counterDelta, isCounterReset } from "../powercap/counter.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import type { EnergySample } from "../sensor/types.js";
import type { Microjoules, Seconds } from "../units.js";

export interface DomainEnergy {
  /** Zone directory, e.g. `intel-rapl:0:0`. */
  zone: string;
  /** RAPL domain name: `core`, `uncore`, `dram`. */
  name: string;
  energyUj: Microjoules;
}

export interface SocketEnergy {
  id: number;
  /** Energy of the package zone. */
  energyUj: Microjoules;
  domains: DomainEnergy[];
}

/** Wrap-corrected energy of the host over [t0, t1]. */
export interface HostEnergy {
  intervalS: Seconds;
  /** psys if present, else Σ over sockets of package + dram. */
  hostUj: Microjoules;
  sockets: SocketEnergy[];
  /** Every zone's delta, by zone id. */
  zoneUj: Map<string, Microjoules>;
}

/** Energy between two samples of the same sensor. */
export function energyBetween(prev: EnergySample, cur: EnergySample, log: Logger = silentLogger): HostEnergy {
  const prevById = new Map(prev.readings.map((r) => [r.zone.id, r.energyUj]));
  const zoneUj = new Map<string, Microjoules>();
  for (const r of cur.readings) {
    const p = prevById.get(r.zone.id);
    if (p === undefined) continue;
    const max = r.zone.maxEnergyRangeUj;
    if (isCounterReset(p, r.energyUj, max)) {
      const why =
        max === null
          ? "with no max_energy_range_uj"
          : p > max
            ? `from above its max_energy_range_uj (${max})`
            : `by more than half of its max_energy_range_uj (${max}), too much for a wrap`;
      log.warn(`powercap: ${r.zone.path || r.zone.id} went from ${p} to ${r.energyUj} µJ ${why}: treated as a counter reset`);
    }
    zoneUj.set(r.zone.id, counterDelta(p, r.energyUj, max));
  }
  const sockets = new Map<number, SocketEnergy>();
  const socket = (id: number): SocketEnergy => {
    let s = sockets.get(id);
    if (!s) sockets.set(id, (s = { id, energyUj: 0, domains: [] }));
    return s;
  };
  let psys: Microjoules | null = null;
  let pkgDram: Microjoules = 0;
  for (const r of cur.readings) {
    const d = zoneUj.get(r.zone.id);
    if (d === undefined) continue;
    const z = r.zone;
    if (z.kind === "psys") psys = (psys ?? 0) + d;
    else if (z.kind === "package") {
      socket(z.socket).energyUj += d;
      pkgDram += d;
    } else {
      socket(z.socket).domains.push({ zone: z.id, name: z.name, energyUj: d });
      if (z.name === "dram") pkgDram += d;
    }
  }
  return {
    intervalS: Number(cur.monotonicNs - prev.monotonicNs) / 1e9,
    hostUj: psys ?? pkgDram,
    sockets: [...sockets.values()].sort((a, b) => a.id - b.id),
    zoneUj,
  };
}
