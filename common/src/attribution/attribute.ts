import type { ContainerInfo } from "../containers/info.js";
import type { Zone } from "../powercap/zones.js";
import type { ProcessInfo, ProcSample } from "../procfs/table.js";
import type { Microjoules, Ticks } from "../units.js";
import { averagePowerUw } from "../units.js";
import type { HostEnergy } from "./energy.js";
import { cpuShares, splitEnergy } from "./cpu-shares.js";
import { socketsSnapshot } from "./snapshot.js";
import type { ContainerSnapshot, ProcessSnapshot, Snapshot, VmSnapshot, VmTransports } from "./snapshot.js";
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
  /** The transports its libvirt live XML shows; absent where unknown (no libvirt). */
  transports?: VmTransports;
  /** Where its domain's XML came from when not from this host's libvirt (its pod's), or why it could not be read. */
  libvirtNote?: string;
  /**
   * Not this host's VM yet: its qemu is here, but libvirt says it does not
   * run here (an incoming live migration, still paused). It gets no share:
   * its qemu counts as an ordinary process, and the Snapshot lists it in
   * `incomingVms`.
   */
  incoming?: boolean;
  /** libvirt said it runs here restored from a save made here (running reason `restored`): see VmSnapshot. */
  restored?: boolean;
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
  /** The container of a process (--containers), or null; absent: containers are not resolved. */
  containerOf?: (p: ProcessInfo) => ContainerInfo | null;
  /**
   * Whether a sink will read `Snapshot.processes` (default true). Without,
   * the per-process arrays die with the step instead of living until the
   * next one (V8 would promote them to the old space every step), and
   * reading `processes` throws.
   */
  keepProcesses?: boolean;
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
  const n = procs.length;
  const vmOf = new Map(i.vms.filter((v) => !v.incoming).map((v) => [v.processKey, v]));
  const incomingVms = i.vms.filter((v) => v.incoming).map((v) => ({ key: v.key, name: v.name, uuid: v.uuid, pid: proc.processes.get(v.processKey)?.pid ?? 0 }));
  const deltas = new Float64Array(n);
  // What the table will overwrite at its next sample is copied now: the Snapshot is of this interval.
  const rss = new Float64Array(n);
  const vsize = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const p = procs[k] as ProcessInfo;
    deltas[k] = vmOf.get(p.key)?.cpuTicks ?? processDeltaTicks(p, i.prevUptimeS, clockTicks);
    rss[k] = p.rssPages * i.pageSize;
    vsize[k] = p.vsizeBytes;
  }
  const shares = cpuShares(i.busyTicks, deltas);
  const energies = splitEnergy(energy.hostUj, shares);
  const subNames = subDomainNames(energy);
  const vms: VmSnapshot[] = [];
  /** Each VM's process index, for its pod's labels once the containers are known. */
  const vmIndex = new Map<VmSnapshot, number>();
  let othersUj: Microjoules = 0;
  let attributedUj: Microjoules = 0;
  for (let k = 0; k < n; k++) {
    const uj = energies[k] ?? 0;
    attributedUj += uj;
    const vm = vmOf.get((procs[k] as ProcessInfo).key);
    if (!vm) {
      othersUj += uj;
      continue;
    }
    const share = shares[k] ?? 0;
    const snap: VmSnapshot = {
      key: vm.key,
      name: vm.name,
      uuid: vm.uuid,
      libvirt: vm.libvirt,
      pid: (procs[k] as ProcessInfo).pid,
      cpuSource: vm.cpuSource,
      cpuTicks: deltas[k] ?? 0,
      share,
      energyUj: uj,
      powerUw: averagePowerUw(uj, energy.intervalS),
      zonesUj: vmZoneGains(uj, share, energy, subNames),
      ...(vm.labels ? { labels: vm.labels } : {}),
      ...(vm.transports ? { transports: vm.transports } : {}),
      ...(vm.libvirtNote ? { libvirtNote: vm.libvirtNote } : {}),
      ...(vm.restored ? { restored: true } : {}),
    };
    vms.push(snap);
    vmIndex.set(snap, k);
  }
  vms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Each process's container, and the containers' sums, in this same pass: every µJ counted once.
  const containerOf = i.containerOf;
  const conts: (ContainerInfo | null)[] | null = containerOf ? new Array<ContainerInfo | null>(n) : null;
  let containers: ContainerSnapshot[] | null = null;
  if (containerOf && conts) {
    const sums = new Map<string, ContainerSnapshot>();
    for (let k = 0; k < n; k++) {
      const c = (conts[k] = containerOf(procs[k] as ProcessInfo));
      if (c === null) continue;
      let sum = sums.get(c.key);
      if (!sum) sums.set(c.key, (sum = { container: c, processes: 0, cpuTicks: 0, share: 0, energyUj: 0, powerUw: 0 }));
      sum.processes++;
      sum.cpuTicks += deltas[k] ?? 0;
      sum.share += shares[k] ?? 0;
      sum.energyUj += energies[k] ?? 0;
    }
    containers = [...sums.values()];
    for (const c of containers) c.powerUw = averagePowerUw(c.energyUj, energy.intervalS);
    containers.sort((a, b) => b.energyUj - a.energyUj || (a.container.key < b.container.key ? -1 : 1));
    // A VM whose qemu runs in a pod (KubeVirt's virt-launcher) carries its pod's labels, as its processes do
    for (const v of vms) {
      const pod = conts[vmIndex.get(v) ?? -1]?.pod;
      if (pod) v.labels = { ...v.labels, kubernetes_pod_name: pod.name, kubernetes_pod_namespace: pod.namespace, kubernetes_node_name: pod.node };
    }
  }
  // Processes are made into objects (and sorted) only when a sink asks: the VM trees never do.
  const processes =
    i.keepProcesses === false ? refuseProcesses : lazyProcesses({ procs, deltas, shares, energies, rss, vsize, vmOf, conts, energy, clockTicks });
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
    processCount: n,
    get processes(): ProcessSnapshot[] {
      return processes();
    },
    vms,
    incomingVms,
    containers,
    othersUj,
    attributedUj,
    hostStats: proc.hostStats,
    procFilesHeld: proc.procFilesHeld,
  };
}

/** What lazyProcesses makes ProcessSnapshots of: attribute()'s per-process arrays, by index. */
interface PerProcess {
  procs: readonly ProcessInfo[];
  deltas: Float64Array;
  shares: readonly number[];
  energies: readonly Microjoules[];
  rss: Float64Array;
  vsize: Float64Array;
  vmOf: ReadonlyMap<string, VmClaim>;
  conts: readonly (ContainerInfo | null)[] | null;
  energy: HostEnergy;
  clockTicks: number;
}

/**
 * The Snapshot's processes, made (and sorted) on the first read. A
 * function of its own, so that only the Snapshots that keep their
 * processes hold attribute()'s arrays (V8 keeps whatever an inner function
 * names alive with every closure of the same scope).
 */
function lazyProcesses(a: PerProcess): () => ProcessSnapshot[] {
  let from: PerProcess | null = a;
  let made: ProcessSnapshot[] | null = null;
  return () => {
    if (made === null) {
      made = makeProcesses(from as PerProcess);
      from = null; // the objects made, the arrays go
    }
    return made;
  };
}

function refuseProcesses(): never {
  throw new Error("this Snapshot keeps no processes: its meter was opened for sinks that read none (keepProcesses: false)");
}

function makeProcesses(a: PerProcess): ProcessSnapshot[] {
  const { procs, deltas, shares, energies, rss, vsize, vmOf, conts, energy } = a;
  const n = procs.length;
  const capacityTicks = energy.intervalS * a.clockTicks;
  const out = new Array<ProcessSnapshot>(n);
  for (let k = 0; k < n; k++) {
    const p = procs[k] as ProcessInfo;
    const uj = energies[k] ?? 0;
    const d = deltas[k] ?? 0;
    const ps: ProcessSnapshot = {
      pid: p.pid,
      comm: p.comm,
      exe: p.exe,
      cmdline: p.cmdline,
      cpuTicks: d,
      share: shares[k] ?? 0,
      energyUj: uj,
      powerUw: averagePowerUw(uj, energy.intervalS),
      cpuPercent: capacityTicks > 0 ? (100 * d) / capacityTicks : 0,
      memoryBytes: rss[k] ?? 0,
      memoryVirtualBytes: vsize[k] ?? 0,
    };
    const vm = vmOf.get(p.key);
    if (vm) ps.vmname = vm.name;
    const c = conts?.[k];
    if (c) ps.container = c;
    out[k] = ps;
  }
  return out.sort((a, b) => b.energyUj - a.energyUj || b.cpuTicks - a.cpuTicks || a.pid - b.pid);
}
