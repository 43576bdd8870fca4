import { cpuShares, splitEnergy } from "@scaph/common";
import type { HostEnergy, Microjoules, Ticks } from "@scaph/common";

/** Energy split between VMs and the other processes over one interval. */
export interface VmSplit {
  /** Share of the host's busy time per VM, after normalisation. */
  vmShares: number[];
  vmUj: Microjoules[];
  /** Energy of all other processes together. */
  othersUj: Microjoules;
}

/**
 * DESIGN.md's formula applied jointly to VMs (CPU time of their cgroup or
 * qemu process) and to every other process, so that Σ VM + Σ others never
 * exceeds the host energy, even when a VM's cgroup time (vhost, iothreads)
 * is not in its qemu process.
 */
export function splitVmEnergy(hostUj: Microjoules, busyTicks: Ticks, vmTicks: readonly Ticks[], otherTicks: readonly Ticks[]): VmSplit {
  const shares = cpuShares(busyTicks, [...vmTicks, ...otherTicks]);
  const energies = splitEnergy(hostUj, shares);
  const n = vmTicks.length;
  return {
    vmShares: shares.slice(0, n),
    vmUj: energies.slice(0, n),
    othersUj: energies.slice(n).reduce((a, b) => a + b, 0),
  };
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
    const host = e.sockets.reduce((a, s) => a + s.domains.filter((d) => d.name === name).reduce((x, d) => x + d.energyUj, 0), 0);
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
