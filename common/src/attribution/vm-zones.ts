import type { Microjoules } from "../units.js";
import { DEFAULT_MAX_UJ, VM_PACKAGE_NAME, VM_PACKAGE_ZONE, vmSubZone } from "../powercap/layout.js";
import type { HostEnergy } from "./energy.js";
import type { Snapshot } from "./snapshot.js";

/** A zone of a VM tree. */
export interface ZoneSpec {
  /** Directory: `intel-rapl:0`, `intel-rapl:0:M`. */
  id: string;
  /** Content of `name`: `package-0`, `core`, `dram`... */
  name: string;
  /** Where `energy_uj` wraps, like the host's hardware counter. */
  maxUj: number;
}

/**
 * The zones of a VM tree: package-0 plus one sub-zone per host sub-domain
 * name, in that order: the ids vmZoneGains gives gains for.
 */
export function vmZones(subNames: readonly string[], maxOf: (name: string) => number | null): ZoneSpec[] {
  return [
    { id: VM_PACKAGE_ZONE, name: VM_PACKAGE_NAME, maxUj: maxOf("package") ?? DEFAULT_MAX_UJ },
    ...subNames.map((n, m) => ({ id: vmSubZone(m), name: n, maxUj: maxOf(n) ?? DEFAULT_MAX_UJ })),
  ];
}

/** The wrap point of the host's zone with this name (`package` for packages), from a Snapshot's zones. */
export function zoneMaxOf(zones: Snapshot["zones"]): (name: string) => number | null {
  return (name) => {
    const z = zones.find((x) => (name === "package" ? x.kind === "package" : x.kind === "subdomain" && x.name === name));
    return z?.maxEnergyRangeUj ?? null;
  };
}

const zonesOfSnapshot = new WeakMap<Snapshot, ZoneSpec[]>();

/** The zones of every VM's tree or channel at the step of `s` (its sub-domains, their wrap points): computed once per Snapshot, whichever sink asks first. */
export function snapshotVmZones(s: Snapshot): readonly ZoneSpec[] {
  let z = zonesOfSnapshot.get(s);
  if (!z) zonesOfSnapshot.set(s, (z = vmZones(s.subDomains, zoneMaxOf(s.zones))));
  return z;
}

/** Host sub-domain names in a stable order (first socket's order, then any new). */
export function subDomainNames(e: HostEnergy): string[] {
  const names: string[] = [];
  for (const s of e.sockets) for (const d of s.domains) if (!names.includes(d.name)) names.push(d.name);
  return names;
}

/**
 * A VM's gain per zone of its tree. Sub-domains take the VM's share of the
 * host's (summed over sockets); the package takes the rest of the VM's
 * energy, so that package + dram, which is what every reader adds up, is
 * exactly the energy attributed to the VM.
 */
export function vmZoneGains(vmUj: Microjoules, share: number, e: HostEnergy, subNames: readonly string[]): Map<string, Microjoules> {
  const gains = new Map<string, Microjoules>();
  let dram = 0;
  subNames.forEach((name, m) => {
    let host = 0;
    for (const s of e.sockets) for (const d of s.domains) if (d.name === name) host += d.energyUj;
    let g = Math.floor(share * host);
    if (name === "dram") {
      g = Math.min(g, vmUj);
      dram = g;
    }
    gains.set(vmSubZone(m), g);
  });
  gains.set(VM_PACKAGE_ZONE, vmUj - dram);
  return gains;
}
