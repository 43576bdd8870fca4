import { readFileSync } from "node:fs";
import type { ProcessSnapshot, Snapshot } from "../attribution/snapshot.js";
import { containerLabels } from "../containers/info.js";
import type { ContainerInfo } from "../containers/info.js";
import type { DiskStats } from "../procfs/disks.js";
import { SCAPH_VERSION } from "../version.js";
import { cmdlineLabel, exeLabel, selectProcesses } from "./select.js";
import type { ProcessFilter } from "./select.js";
import { EnergyTotals, vmLabels } from "./totals.js";

/** One sample of a metric: its labels and value. */
export interface MetricSample {
  labels: Record<string, string>;
  value: number;
}

export interface MetricsOptions {
  filter: ProcessFilter;
  /** The mounted filesystems, read when a scrape or a push asks (Scaphandre's disk metrics); none without it. */
  disks?: () => DiskStats[];
  /** Add `vmname` to the qemu processes' series, and the per-VM series. */
  qemu: boolean;
  /** Longest `cmdline` label, in characters (0: no cmdline label). */
  cmdlineMax?: number;
  /**
   * Add each process's container labels, and the per-container series
   * (--containers); `labelKeys`: the Docker labels to export as
   * `container_label_*` (--container-labels), none when null.
   */
  containers?: { labelKeys: RegExp | null };
}

/** Defined once: the name, help and type of each metric, whatever exports it. */
const DEFS: Record<string, { help: string; type: "gauge" | "counter" }> = {
  scaph_host_power_microwatts: { help: "Power of the host over the last interval, in microwatts", type: "gauge" },
  scaph_host_energy_microjoules: { help: "Energy of the host since the exporter started, in microjoules", type: "counter" },
  scaph_host_energy_joules_total: { help: "Energy of the host since the exporter started, in joules", type: "counter" },
  scaph_host_energy_timestamp_seconds: { help: "Unix time of the host's energy reading these values come from, in seconds", type: "gauge" },
  scaph_socket_power_microwatts: { help: "Power of a CPU socket (RAPL package) over the last interval, in microwatts", type: "gauge" },
  scaph_socket_energy_microjoules: { help: "Energy of a CPU socket since the exporter started, in microjoules", type: "counter" },
  scaph_socket_energy_joules_total: { help: "Energy of a CPU socket since the exporter started, in joules", type: "counter" },
  scaph_domain_power_microwatts: { help: "Power of a RAPL domain (core, uncore, dram) over the last interval, in microwatts", type: "gauge" },
  scaph_domain_energy_microjoules: { help: "Energy of a RAPL domain since the exporter started, in microjoules", type: "counter" },
  scaph_domain_energy_joules_total: { help: "Energy of a RAPL domain since the exporter started, in joules", type: "counter" },
  scaph_process_power_consumption_microwatts: { help: "Power attributed to a process over the last interval, in microwatts", type: "gauge" },
  scaph_process_cpu_usage_percentage: { help: "CPU time of a process over the last interval, in percent of one CPU", type: "gauge" },
  scaph_process_memory_bytes: { help: "Resident memory of a process, in bytes", type: "gauge" },
  scaph_process_memory_virtual_bytes: { help: "Virtual memory of a process, in bytes", type: "gauge" },
  scaph_vm_power_microwatts: { help: "Power attributed to a virtual machine over the last interval, in microwatts", type: "gauge" },
  scaph_vm_energy_joules_total: { help: "Energy attributed to a virtual machine since the exporter started, in joules", type: "counter" },
  scaph_container_power_microwatts: { help: "Power attributed to a container (the sum of its processes) over the last interval, in microwatts", type: "gauge" },
  scaph_container_energy_microjoules: {
    help: "Energy attributed to a container since the exporter started (or since it started, if later), in microjoules",
    type: "counter",
  },
  scaph_container_energy_joules_total: {
    help: "Energy attributed to a container since the exporter started (or since it started, if later), in joules",
    type: "counter",
  },
  scaph_host_load_avg_one: { help: "Load average over 1 minute", type: "gauge" },
  scaph_host_load_avg_five: { help: "Load average over 5 minutes", type: "gauge" },
  scaph_host_load_avg_fifteen: { help: "Load average over 15 minutes", type: "gauge" },
  scaph_host_memory_total_bytes: { help: "Total memory of the host, in bytes", type: "gauge" },
  scaph_host_memory_available_bytes: { help: "Available memory of the host, in bytes", type: "gauge" },
  scaph_host_memory_free_bytes: { help: "Free memory of the host, in bytes", type: "gauge" },
  scaph_host_swap_total_bytes: { help: "Total swap of the host, in bytes", type: "gauge" },
  scaph_host_swap_free_bytes: { help: "Free swap of the host, in bytes", type: "gauge" },
  scaph_forks_since_boot_total: { help: "Processes created on the host since it booted (forks)", type: "counter" },
  scaph_processes_running_current: { help: "Processes running on the host now", type: "gauge" },
  scaph_processes_blocked_current: { help: "Processes blocked on the host now, waiting for I/O", type: "gauge" },
  scaph_context_switches_total: { help: "Context switches on the host since it booted", type: "counter" },
  scaph_host_disk_total_bytes: { help: "Size of a mounted filesystem, in bytes", type: "gauge" },
  scaph_host_disk_available_bytes: { help: "Space of a mounted filesystem available to users, in bytes", type: "gauge" },
  scaph_self_version: { help: "Version of scaph, as a label; always 1", type: "gauge" },
  scaph_self_memory_bytes: { help: "Resident memory of this scaph process, in bytes", type: "gauge" },
  scaph_self_memory_virtual_bytes: { help: "Virtual memory of this scaph process, in bytes", type: "gauge" },
  scaph_self_mem_total_program_size: { help: "Virtual memory of this scaph process, in pages (Scaphandre's older name)", type: "gauge" },
  scaph_self_mem_resident_set_size: { help: "Resident memory of this scaph process, in pages (Scaphandre's older name)", type: "gauge" },
  scaph_self_mem_shared_resident_size: { help: "Resident shared memory of this scaph process, in pages (Scaphandre's older name)", type: "gauge" },
  scaph_self_cpu_usage_percent: { help: "CPU time of this scaph process since it started, in percent of one CPU", type: "gauge" },
  scaph_self_topo_procs_nb: { help: "Number of processes seen in the last interval", type: "gauge" },
  scaph_self_procfs_open_files: {
    help: "Files of /proc (each process's stat) this scaph process holds open, read with one system call a step each, in files",
    type: "gauge",
  },
  scaph_self_last_step_timestamp_seconds: { help: "Unix time of the newest measurement, the one these values come from, in seconds", type: "gauge" },
};

/** The metric names, in exposition order; the per-VM ones only with `qemu`, the per-container ones only with `containers`. */
export function metricNames(qemu: boolean, containers = false): string[] {
  return Object.keys(DEFS).filter((n) => (qemu || !n.startsWith("scaph_vm_")) && (containers || !n.startsWith("scaph_container_")));
}

export function metricDef(name: string): { help: string; type: "gauge" | "counter" } {
  const d = DEFS[name];
  if (!d) throw new Error(`no metric ${name}`);
  return d;
}

/**
 * The metrics of the newest Snapshot, and counters accumulated over every
 * Snapshot since start. A sink feeds it; every metric exporter reads it, so
 * a scrape or a push never measures anything itself.
 */
export class MetricsModel {
  private latest: Snapshot | null = null;
  private readonly totals = new EnergyTotals();
  private cache: Map<string, MetricSample[]> | null = null;
  private readonly startCpu = process.cpuUsage();
  private readonly startMs = Date.now();

  constructor(readonly options: MetricsOptions) {}

  update(s: Snapshot): void {
    this.latest = s;
    this.totals.add(s);
    this.cache = null;
    this.generation++;
  }

  /** The names of the metrics this model exports, in exposition order. */
  names(): string[] {
    return metricNames(this.options.qemu, this.options.containers !== undefined);
  }

  /** Counts the Snapshots taken: what the step's metrics (all but self and disks, read when asked) depend on. */
  generation = 0;

  /** Whether a metric's samples are read when asked (this process's, the disks'), not taken from the step. */
  static readWhenAsked(name: string): boolean {
    return name.startsWith("scaph_self_") || name.startsWith("scaph_host_disk_");
  }

  /** The samples of one metric. */
  samples(name: string): MetricSample[] {
    if (name.startsWith("scaph_self_")) return this.self(name);
    if (name.startsWith("scaph_host_disk_")) return this.disk(name);
    this.cache ??= this.compute();
    return this.cache.get(name) ?? [];
  }

  private disksRead: { atMs: number; list: DiskStats[] } | null = null;

  /** The disk metrics, from a reading at most a second old (one reading serves both families of a scrape). */
  private disk(name: string): MetricSample[] {
    if (!this.options.disks) return [];
    const now = Date.now();
    if (!this.disksRead || now - this.disksRead.atMs > 1000) this.disksRead = { atMs: now, list: this.options.disks() };
    return this.disksRead.list.map((d) => ({
      labels: {
        disk_file_system: d.fileSystem,
        disk_mount_point: d.mountPoint,
        disk_type: d.type,
        disk_is_removable: String(d.removable),
        disk_name: d.name,
      },
      value: name === "scaph_host_disk_total_bytes" ? d.totalBytes : d.availableBytes,
    }));
  }

  private self(name: string): MetricSample[] {
    switch (name) {
      case "scaph_self_memory_virtual_bytes":
        return selfKb("VmSize");
      case "scaph_self_mem_total_program_size":
        return selfStatm(0);
      case "scaph_self_mem_resident_set_size":
        return selfStatm(1);
      case "scaph_self_mem_shared_resident_size":
        return selfStatm(2);
      case "scaph_self_version":
        return [{ labels: { version: SCAPH_VERSION }, value: 1 }];
      case "scaph_self_memory_bytes":
        return [{ labels: {}, value: process.memoryUsage.rss() }];
      case "scaph_self_cpu_usage_percent": {
        const u = process.cpuUsage(this.startCpu);
        return [{ labels: {}, value: (100 * (u.user + u.system)) / (Math.max(1, Date.now() - this.startMs) * 1000) }];
      }
      case "scaph_self_topo_procs_nb":
        return [{ labels: {}, value: this.latest?.processCount ?? 0 }];
      case "scaph_self_procfs_open_files":
        return [{ labels: {}, value: this.latest?.procFilesHeld ?? 0 }];
      case "scaph_self_last_step_timestamp_seconds":
        return this.latest ? [{ labels: {}, value: this.latest.timestampS }] : [];
    }
    return [];
  }

  /**
   * A process's label set, the same object from step to step while the
   * process is the same (its command line, an array the process table keeps
   * until an exec, with the same pid, name and VM): its exposition text is
   * then escaped once for its life, not at every scrape.
   */
  private readonly labelSets = new WeakMap<
    readonly string[],
    { pid: number; comm: string; vmname: string | undefined; container: ContainerInfo | undefined; labels: Record<string, string> }
  >();

  private readonly cmdlineLabels = new WeakMap<readonly string[], string>();

  private processLabels(p: ProcessSnapshot): Record<string, string> {
    const known = this.labelSets.get(p.cmdline);
    if (known && known.pid === p.pid && known.comm === p.comm && known.vmname === p.vmname && known.container === p.container) return known.labels;
    const cmdMax = this.options.cmdlineMax ?? Infinity;
    const labels: Record<string, string> = { pid: String(p.pid), exe: exeLabel(p) };
    if (cmdMax > 0) {
      // cut once per command line: a process that renames itself (a new comm, the same command line) is not joined again
      let cmdline = this.cmdlineLabels.get(p.cmdline);
      if (cmdline === undefined) this.cmdlineLabels.set(p.cmdline, (cmdline = cmdlineLabel(p, cmdMax)));
      labels.cmdline = cmdline;
    }
    if (this.options.qemu && p.vmname !== undefined) labels.vmname = p.vmname;
    if (this.options.containers && p.container) Object.assign(labels, this.containerLabels(p.container));
    this.labelSets.set(p.cmdline, { pid: p.pid, comm: p.comm, vmname: p.vmname, container: p.container, labels });
    return labels;
  }

  /** A container's labels, made once per ContainerInfo (a new one comes when what is known of it changes). */
  private readonly containerLabelSets = new WeakMap<ContainerInfo, Record<string, string>>();

  private containerLabels(c: ContainerInfo): Record<string, string> {
    let l = this.containerLabelSets.get(c);
    if (!l) this.containerLabelSets.set(c, (l = containerLabels(c, this.options.containers?.labelKeys ?? null)));
    return l;
  }

  private compute(): Map<string, MetricSample[]> {
    const m = new Map<string, MetricSample[]>();
    const add = (name: string, labels: Record<string, string>, value: number): void => {
      if (!Number.isFinite(value)) return;
      let list = m.get(name);
      if (!list) m.set(name, (list = []));
      list.push({ labels, value });
    };
    const s = this.latest;
    const t = this.totals;
    if (s) add("scaph_host_power_microwatts", { value_source: s.valueSource }, s.host.powerUw);
    if (s) add("scaph_host_energy_timestamp_seconds", {}, s.timestampS);
    for (const [vs, uj] of t.host) {
      add("scaph_host_energy_microjoules", { value_source: vs }, uj);
      add("scaph_host_energy_joules_total", { value_source: vs }, uj / 1e6);
    }
    for (const k of s?.sockets ?? []) {
      add("scaph_socket_power_microwatts", { socket_id: String(k.id) }, k.powerUw);
      for (const d of k.domains) add("scaph_domain_power_microwatts", { domain_name: d.name, domain_id: d.zone, socket_id: String(k.id) }, d.powerUw);
    }
    for (const [id, uj] of t.sockets) {
      add("scaph_socket_energy_microjoules", { socket_id: String(id) }, uj);
      add("scaph_socket_energy_joules_total", { socket_id: String(id) }, uj / 1e6);
    }
    for (const d of t.domains.values()) {
      const labels = { domain_name: d.name, domain_id: d.zone, socket_id: String(d.socket) };
      add("scaph_domain_energy_microjoules", labels, d.uj);
      add("scaph_domain_energy_joules_total", labels, d.uj / 1e6);
    }
    for (const p of s ? selectProcesses(s.processes, this.options.filter) : []) {
      const labels = this.processLabels(p);
      add("scaph_process_power_consumption_microwatts", labels, p.powerUw);
      add("scaph_process_cpu_usage_percentage", labels, p.cpuPercent);
      add("scaph_process_memory_bytes", labels, p.memoryBytes);
      add("scaph_process_memory_virtual_bytes", labels, p.memoryVirtualBytes);
    }
    if (this.options.qemu) {
      for (const v of s?.vms ?? []) add("scaph_vm_power_microwatts", { vmname: v.name, ...vmLabels(v) }, v.powerUw);
      for (const v of t.vms.values()) add("scaph_vm_energy_joules_total", { vmname: v.name, ...v.labels }, v.uj / 1e6);
    }
    if (this.options.containers) {
      // Two containers whose labels are the same (one id under two pod UIDs) make one series, their sum:
      // a family with two samples of one label set is refused by the Pushgateway, and Prometheus keeps one.
      const power = new SampleSum();
      const energy = new SampleSum();
      for (const c of s?.containers ?? []) power.add(this.containerLabels(c.container), c.powerUw);
      for (const c of t.containers.values()) energy.add(this.containerLabels(c.container), c.uj);
      for (const x of power.samples()) add("scaph_container_power_microwatts", x.labels, x.value);
      for (const x of energy.samples()) {
        add("scaph_container_energy_microjoules", x.labels, x.value);
        add("scaph_container_energy_joules_total", x.labels, x.value / 1e6);
      }
    }
    const h = s?.hostStats;
    if (h) {
      add("scaph_host_load_avg_one", {}, h.load1);
      add("scaph_host_load_avg_five", {}, h.load5);
      add("scaph_host_load_avg_fifteen", {}, h.load15);
      add("scaph_host_memory_total_bytes", {}, h.memTotalBytes);
      add("scaph_host_memory_available_bytes", {}, h.memAvailableBytes);
      add("scaph_host_memory_free_bytes", {}, h.memFreeBytes);
      add("scaph_host_swap_total_bytes", {}, h.swapTotalBytes);
      add("scaph_host_swap_free_bytes", {}, h.swapFreeBytes);
      add("scaph_forks_since_boot_total", {}, h.forksTotal);
      add("scaph_processes_running_current", {}, h.processesRunning);
      add("scaph_processes_blocked_current", {}, h.processesBlocked);
      add("scaph_context_switches_total", {}, h.contextSwitchesTotal);
    }
    return m;
  }
}

/** A field of /proc/self/status in kB, as bytes (no sample where it cannot be read). */
function selfKb(field: string): MetricSample[] {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync("/proc/self/status", "utf8"));
    return m ? [{ labels: {}, value: Number(m[1]) * 1024 }] : [];
  } catch {
    return [];
  }
}

/** A field of /proc/self/statm (pages). */
function selfStatm(i: number): MetricSample[] {
  try {
    const v = Number(readFileSync("/proc/self/statm", "utf8").trim().split(/\s+/)[i]);
    return Number.isFinite(v) ? [{ labels: {}, value: v }] : [];
  } catch {
    return [];
  }
}

/** Samples summed by label set: one sample per distinct set of label names and values. */
class SampleSum {
  private readonly byKey = new Map<string, MetricSample>();

  add(labels: Record<string, string>, value: number): void {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const known = this.byKey.get(key);
    if (known) known.value += value;
    else this.byKey.set(key, { labels, value });
  }

  samples(): Iterable<MetricSample> {
    return this.byKey.values();
  }
}
