import type { Microjoules } from "../units.js";
import type { HostEnergy } from "./energy.js";

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
    gains.set(`intel-rapl:0:${m}`, g);
  });
  gains.set("intel-rapl:0", vmUj - dram);
  return gains;
}
