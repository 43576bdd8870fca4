import type { ContainerInfo } from "../containers/info.js";
import type { Zone } from "../powercap/zones.js";
import type { HostStats } from "../procfs/host.js";
import type { Microjoules, Microwatts, Seconds, Ticks } from "../units.js";
import { averagePowerUw } from "../units.js";
import type { HostEnergy } from "./energy.js";

export interface DomainSnapshot {
  zone: string;
  name: string;
  energyUj: Microjoules;
  powerUw: Microwatts;
}

export interface SocketSnapshot {
  id: number;
  energyUj: Microjoules;
  powerUw: Microwatts;
  domains: DomainSnapshot[];
}

export interface ProcessSnapshot {
  pid: number;
  comm: string;
  exe: string;
  cmdline: readonly string[];
  /** CPU time used over the interval (for a VM's qemu process: the VM's, from its cgroup where found). */
  cpuTicks: Ticks;
  /** Fraction of the host's busy time, in [0, 1]. */
  share: number;
  energyUj: Microjoules;
  powerUw: Microwatts;
  /** CPU time over the interval, in percent of one CPU (a process busy on two CPUs: 200), as Scaphandre's. */
  cpuPercent: number;
  memoryBytes: number;
  memoryVirtualBytes: number;
  /** The VM this qemu process runs (where VMs are resolved: scaph-host qemu, --qemu). */
  vmname?: string;
  /** The container it runs in (where containers are resolved: --containers). */
  container?: ContainerInfo;
}

/** A container over the interval: the sum of its processes, from the same attribution. */
export interface ContainerSnapshot {
  container: ContainerInfo;
  /** How many of its processes there were. */
  processes: number;
  cpuTicks: Ticks;
  share: number;
  energyUj: Microjoules;
  powerUw: Microwatts;
}

/** How a VM gets its energy, as its libvirt live XML says. */
export interface VmTransports {
  /** The unix socket of its channel (org.scaph.energy.0), or null. */
  channelPath: string | null;
  /** Whether it has the tree share (virtiofs or 9p). */
  share: boolean;
  /**
   * The root `channelPath` is inside, where it is not the node's: a KubeVirt
   * pod's filesystem, /proc/<qemu pid>/root. Its tenant owns it: the socket
   * is found inside it link by link (host/src/qemu/pod-root.ts), never by the
   * joined path.
   */
  channelRoot?: string;
}

/** A VM over the interval: its identity, joined once, and its share of the host's energy. */
export interface VmSnapshot {
  /** Stable across steps: the UUID, else `name:NAME`. */
  key: string;
  /** Directory name and `vmname` label. */
  name: string;
  uuid: string | null;
  /** Whether libvirt knows it (joined by UUID or name). */
  libvirt: boolean;
  pid: number;
  /** Where its CPU time came from: its cgroup (vhost, iothreads included) or its qemu process. */
  cpuSource: "cgroup" | "process";
  cpuTicks: Ticks;
  share: number;
  /** Its energy: the same as its qemu process's, by construction. */
  energyUj: Microjoules;
  powerUw: Microwatts;
  /** Its gain per zone of its powercap tree (`intel-rapl:0`, `intel-rapl:0:M`); package + dram = energyUj. */
  zonesUj: ReadonlyMap<string, Microjoules>;
  /** Extra labels for exporters (e.g. the Nova instance), never used to attribute. */
  labels?: Readonly<Record<string, string>>;
  /** Its transports, where libvirt tells them; absent where unknown (its tree is written). */
  transports?: VmTransports;
  /** Where its domain's XML came from when not from this host's libvirt (its pod's), or why it could not be read. */
  libvirtNote?: string;
  /**
   * Its qemu began from a saved image (libvirt's running reason `restored`:
   * `virsh restore`, a managed save): the guest's memory, and so its
   * channel receiver's state, is what it was at the save. A channel that
   * had this VM before continues its epoch.
   */
  restored?: boolean;
}

/** A VM on its way in: its qemu runs here, libvirt does not say it runs here yet. */
export interface IncomingVm {
  key: string;
  name: string;
  uuid: string | null;
  pid: number;
}

/** What every sink consumes: one interval [t0, t1] of the host. */
export interface Snapshot {
  /** Unix seconds at t1. */
  timestampS: number;
  intervalS: Seconds;
  /** Where host values come from (powercap_rapl_psys, powercap_rapl_pkg, estimate). */
  valueSource: string;
  estimated: boolean;
  host: { energyUj: Microjoules; powerUw: Microwatts };
  sockets: SocketSnapshot[];
  /** The host's RAPL zones (names and wrap points), as the sensor found them. */
  zones: readonly Zone[];
  /** Sub-domain names in a stable order (core, uncore, dram...): the sub-zones of a VM tree. */
  subDomains: readonly string[];
  /** Busy CPU time of the host over the interval. */
  busyTicks: Ticks;
  /** How many user-space processes there were. */
  processCount: number;
  /** Every user-space process, highest energy first (made when first read). */
  readonly processes: ProcessSnapshot[];
  /** The VMs, where they are resolved (by name). */
  vms: VmSnapshot[];
  /** VMs whose qemu is here but which do not run here yet (an incoming live migration): no share, no epoch. */
  incomingVms: readonly IncomingVm[];
  /** The containers, where they are resolved (--containers), highest energy first; else null. */
  containers: ContainerSnapshot[] | null;
  /** Energy of the processes that are not VMs. */
  othersUj: Microjoules;
  /** Energy attributed to all processes (VMs included): at most the host's. */
  attributedUj: Microjoules;
  /** Load and memory, where read (Prometheus). */
  hostStats: HostStats | null;
  /** /proc/PID/stat files the process table holds open (read with one pread a step each). */
  procFilesHeld: number;
}

export function socketsSnapshot(e: HostEnergy): SocketSnapshot[] {
  return e.sockets.map((s) => ({
    id: s.id,
    energyUj: s.energyUj,
    powerUw: averagePowerUw(s.energyUj, e.intervalS),
    domains: s.domains.map((d) => ({ ...d, powerUw: averagePowerUw(d.energyUj, e.intervalS) })),
  }));
}
