import type { Zone } from "../powercap/zones.js";
import type { ProcessInfo, ProcSample } from "../procfs/table.js";
import type { Microjoules, Ticks } from "../units.js";
import { averagePowerUw } from "../units.js";
import type { HostEnergy } from "./energy.js";
import { cpuShares, splitEnergy } from "./share.js";
import { socketsSnapshot } from "./snapshot.js";
import type { ProcessSnapshot, Snapshot, VmSnapshot } from "./snapshot.js";
import { subDomainNames, vmZoneGains } from "./vm-zones.js";

/** A VM as its resolver found it: which process runs it, and its CPU time over the interval. */
export interface VmClaim {
  key: string;
  name: string;
  uuid: string | null;
  libvirt: boolean;
  /** The key of its qemu process in the ProcSample. */
  processKey: string;
  cpuTicks: Ticks;
  cpuSource: "cgroup" | "process";
  labels?: Readonly<Record<string, string>>;
}

/**
 * CPU time a process used over the interval ending at its last reading. A
 * process first seen at that reading counts whole if it started after the
 * previous reading (`prevUptimeS`), else (no baseline) 0.
 */
export function processDeltaTicks(p: ProcessInfo, prevUptimeS: number, clockTicks: number): Ticks {
  if (p.prevCpuTicks !== null) return Math.max(0, p.cpuTicks - p.prevCpuTicks);
  return p.startTicks / clockTicks >= prevUptimeS ? p.cpuTicks : 0;
}

export interface AttributionInput {
  energy: HostEnergy;
  timestampS: number;
  valueSource: string;
  estimated: boolean;
  zones: readonly Zone[];
  proc: ProcSample;
  prevUptimeS: number;
  busyTicks: Ticks;
  clockTicks: number;
  pageSize: number;
  vms: readonly VmClaim[];
}

/**
 * The one attribution (DESIGN.md): share(c) = Δcpu(c) / Δbusy over every
 * consumer at once, VMs and other processes together, so Σ VMs + Σ others
 * never exceeds the host energy. A VM's CPU time is its claim's (its cgroup,
 * which holds vhost and iothreads, where found) and replaces its qemu
 * process's: the VM and its process have one energy, the same number in
 * every sink.
 */
export function attribute(i: AttributionInput): Snapshot {
  const { energy, proc, clockTicks } = i;
  const procs = [...proc.processes.values()];
  const vmOf = new Map(i.vms.map((v) => [v.processKey, v]));
  const deltas = procs.map((p) => vmOf.get(p.key)?.cpuTicks ?? processDeltaTicks(p, i.prevUptimeS, clockTicks));
  const shares = cpuShares(i.busyTicks, deltas);
  const energies = splitEnergy(energy.hostUj, shares);
  const capacityTicks = energy.intervalS * clockTicks;
  const subNames = subDomainNames(energy);
  const processes: ProcessSnapshot[] = new Array(procs.length);
  const vms: VmSnapshot[] = [];
  let othersUj: Microjoules = 0;
  for (let k = 0; k < procs.length; k++) {
    const p = procs[k] as ProcessInfo;
    const uj = energies[k] ?? 0;
    const d = deltas[k] ?? 0;
    const share = shares[k] ?? 0;
    const vm = vmOf.get(p.key);
    processes[k] = {
      pid: p.pid,
      comm: p.comm,
      exe: p.exe,
      cmdline: p.cmdline,
      cpuTicks: d,
      share,
      energyUj: uj,
      powerUw: averagePowerUw(uj, energy.intervalS),
      cpuPercent: capacityTicks > 0 ? (100 * d) / capacityTicks : 0,
      memoryBytes: p.rssPages * i.pageSize,
      memoryVirtualBytes: p.vsizeBytes,
      ...(vm ? { vmname: vm.name } : {}),
    };
    if (!vm) {
      othersUj += uj;
      continue;
    }
    vms.push({
      key: vm.key,
      name: vm.name,
      uuid: vm.uuid,
      libvirt: vm.libvirt,
      pid: p.pid,
      cpuSource: vm.cpuSource,
      cpuTicks: d,
      share,
      energyUj: uj,
      powerUw: averagePowerUw(uj, energy.intervalS),
      zonesUj: vmZoneGains(uj, share, energy, subNames),
      ...(vm.labels ? { labels: vm.labels } : {}),
    });
  }
  processes.sort((a, b) => b.energyUj - a.energyUj || b.cpuTicks - a.cpuTicks || a.pid - b.pid);
  vms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    timestampS: i.timestampS,
    intervalS: energy.intervalS,
    valueSource: i.valueSource,
    estimated: i.estimated,
    host: { energyUj: energy.hostUj, powerUw: averagePowerUw(energy.hostUj, energy.intervalS) },
    sockets: socketsSnapshot(energy),
    zones: i.zones,
    subDomains: subNames,
    busyTicks: i.busyTicks,
    processes,
    vms,
    othersUj,
    hostStats: proc.hostStats,
  };
}
