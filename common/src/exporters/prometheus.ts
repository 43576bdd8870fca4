import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Registry } from "prom-client";
import type { Snapshot } from "../attribution/snapshot.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { readHostStats } from "../procfs/host.js";
import type { HostStats } from "../procfs/host.js";
import { cmdlineString, exeLabel, selectProcesses } from "./select.js";
import type { ProcessFilter } from "./select.js";
import { EnergyTotals } from "./totals.js";

export const SCAPH_VERSION = "0.1.0";

/** A VM's power and energy over the last interval (host side, with --qemu). */
export interface VmReading {
  name: string;
  powerUw: number;
  energyUj: number;
}

export interface PrometheusOptions {
  address: string;
  port: number;
  /** Path of the metrics page, without the leading slash (Scaphandre: `metrics`). */
  suffix: string;
  filter: ProcessFilter;
  procRoot: string;
  /** Pull mode: a scrape measures anew only if the last measurement is at least this old. */
  minIntervalS: number;
  /** Add `vmname` to process series and per-VM series. */
  qemu: boolean;
  log?: Logger;
}

/**
 * The Prometheus exporter shared by scaph-host and scaph-guest. Values are
 * computed at scrape time (prom-client `collect`). In pull mode a scrape
 * measures the interval since the previous measurement when it is at least
 * `minIntervalS` old, so frequent scrapes neither freeze the values
 * (Scaphandre #434) nor measure meaninglessly short intervals. In push mode
 * (one measurement loop feeding several sinks) the loop calls update().
 */
export class PrometheusExporter {
  readonly registry = new Registry();
  private latest: Snapshot | null = null;
  private vms: VmReading[] = [];
  private host: HostStats | null = null;
  private readonly totals = new EnergyTotals();
  private lastMeasureMs = 0;
  private measuring: Promise<void> | null = null;
  private server: Server | null = null;
  private readonly log: Logger;
  private readonly startCpu = process.cpuUsage();
  private readonly startMs = Date.now();

  constructor(
    private readonly o: PrometheusOptions,
    /** Pull mode: measures an interval on demand; null in push mode. */
    private readonly measure: (() => Promise<Snapshot>) | null,
  ) {
    this.log = o.log ?? silentLogger;
    this.defineMetrics();
  }

  /** Push mode: a new interval (and, on the host with --qemu, the VMs' share of it). */
  update(s: Snapshot, vms?: readonly VmReading[]): void {
    this.latest = s;
    this.totals.add(s);
    const list = vms ?? this.vmsFromProcesses(s);
    this.vms = [...list];
    this.totals.addVms(list);
  }

  private vmsFromProcesses(s: Snapshot): VmReading[] {
    if (!this.o.qemu) return [];
    const by = new Map<string, VmReading>();
    for (const p of s.processes) {
      if (p.vmname === undefined) continue;
      const v = by.get(p.vmname) ?? { name: p.vmname, powerUw: 0, energyUj: 0 };
      v.powerUw += p.powerUw;
      v.energyUj += p.energyUj;
      by.set(p.vmname, v);
    }
    return [...by.values()];
  }

  private async refresh(): Promise<void> {
    if (this.measure && Date.now() - this.lastMeasureMs >= this.o.minIntervalS * 1000) {
      this.measuring ??= (async () => {
        try {
          this.update(await this.measure!());
          this.lastMeasureMs = Date.now();
        } catch (err) {
          // Serve the last good values; the next measurement covers the gap.
          this.log.error(`prometheus: measurement skipped: ${err instanceof Error ? err.message : String(err)}`);
        } finally {
          this.measuring = null;
        }
      })();
      await this.measuring;
    }
    this.host = await readHostStats(this.o.procRoot);
  }

  private defineMetrics(): void {
    const r = [this.registry];
    const self = this;
    const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge) => void): void => {
      new Gauge({ name, help, labelNames, registers: r, collect() { this.reset(); fill(this); } });
    };
    const counter = (name: string, help: string, labelNames: string[], fill: (c: Counter) => void): void => {
      new Counter({ name, help, labelNames, registers: r, collect() { this.reset(); fill(this); } });
    };
    const s = (): Snapshot | null => self.latest;

    gauge("scaph_host_power_microwatts", "Power of the host over the last interval, in microwatts", ["value_source"], (g) => {
      const x = s();
      if (x) g.set({ value_source: x.valueSource }, x.host.powerUw);
    });
    counter("scaph_host_energy_microjoules", "Energy of the host since the exporter started, in microjoules", ["value_source"], (c) => {
      for (const [vs, uj] of self.totals.host) c.inc({ value_source: vs }, uj);
    });
    counter("scaph_host_energy_joules_total", "Energy of the host since the exporter started, in joules", ["value_source"], (c) => {
      for (const [vs, uj] of self.totals.host) c.inc({ value_source: vs }, uj / 1e6);
    });
    gauge("scaph_socket_power_microwatts", "Power of a CPU socket (RAPL package) over the last interval, in microwatts", ["socket_id"], (g) => {
      for (const k of s()?.sockets ?? []) g.set({ socket_id: String(k.id) }, k.powerUw);
    });
    counter("scaph_socket_energy_microjoules", "Energy of a CPU socket since the exporter started, in microjoules", ["socket_id"], (c) => {
      for (const [id, uj] of self.totals.sockets) c.inc({ socket_id: String(id) }, uj);
    });
    counter("scaph_socket_energy_joules_total", "Energy of a CPU socket since the exporter started, in joules", ["socket_id"], (c) => {
      for (const [id, uj] of self.totals.sockets) c.inc({ socket_id: String(id) }, uj / 1e6);
    });
    const dl = ["domain_name", "domain_id", "socket_id"];
    gauge("scaph_domain_power_microwatts", "Power of a RAPL domain (core, uncore, dram) over the last interval, in microwatts", dl, (g) => {
      for (const k of s()?.sockets ?? []) for (const d of k.domains) g.set({ domain_name: d.name, domain_id: d.zone, socket_id: String(k.id) }, d.powerUw);
    });
    counter("scaph_domain_energy_microjoules", "Energy of a RAPL domain since the exporter started, in microjoules", dl, (c) => {
      for (const d of self.totals.domains.values()) c.inc({ domain_name: d.name, domain_id: d.zone, socket_id: String(d.socket) }, d.uj);
    });
    counter("scaph_domain_energy_joules_total", "Energy of a RAPL domain since the exporter started, in joules", dl, (c) => {
      for (const d of self.totals.domains.values()) c.inc({ domain_name: d.name, domain_id: d.zone, socket_id: String(d.socket) }, d.uj / 1e6);
    });
    const pl = ["pid", "exe", "cmdline", ...(this.o.qemu ? ["vmname"] : [])];
    const procLabels = (p: Snapshot["processes"][number]): Record<string, string> => ({
      pid: String(p.pid),
      exe: exeLabel(p),
      cmdline: cmdlineString(p),
      ...(this.o.qemu && p.vmname !== undefined ? { vmname: p.vmname } : {}),
    });
    const procs = (): Snapshot["processes"] => (s() ? selectProcesses(s()!.processes, this.o.filter) : []);
    gauge("scaph_process_power_consumption_microwatts", "Power attributed to a process over the last interval, in microwatts", pl, (g) => {
      for (const p of procs()) g.set(procLabels(p), p.powerUw);
    });
    gauge("scaph_process_cpu_usage_percentage", "CPU time of a process over the last interval, in percent of one CPU", pl, (g) => {
      for (const p of procs()) g.set(procLabels(p), p.cpuPercent);
    });
    gauge("scaph_process_memory_bytes", "Resident memory of a process, in bytes", pl, (g) => {
      for (const p of procs()) g.set(procLabels(p), p.memoryBytes);
    });
    gauge("scaph_process_memory_virtual_bytes", "Virtual memory of a process, in bytes", pl, (g) => {
      for (const p of procs()) g.set(procLabels(p), p.memoryVirtualBytes);
    });
    if (this.o.qemu) {
      gauge("scaph_vm_power_microwatts", "Power attributed to a virtual machine over the last interval, in microwatts", ["vmname"], (g) => {
        for (const v of self.vms) g.set({ vmname: v.name }, v.powerUw);
      });
      counter("scaph_vm_energy_joules_total", "Energy attributed to a virtual machine since the exporter started, in joules", ["vmname"], (c) => {
        for (const [name, uj] of self.totals.vms) c.inc({ vmname: name }, uj / 1e6);
      });
    }
    const hostStat = (name: string, help: string, pick: (h: HostStats) => number): void =>
      gauge(name, help, [], (g) => {
        const v = self.host ? pick(self.host) : NaN;
        if (Number.isFinite(v)) g.set(v);
      });
    hostStat("scaph_host_load_avg_one", "Load average over 1 minute", (h) => h.load1);
    hostStat("scaph_host_load_avg_five", "Load average over 5 minutes", (h) => h.load5);
    hostStat("scaph_host_load_avg_fifteen", "Load average over 15 minutes", (h) => h.load15);
    hostStat("scaph_host_memory_total_bytes", "Total memory of the host, in bytes", (h) => h.memTotalBytes);
    hostStat("scaph_host_memory_available_bytes", "Available memory of the host, in bytes", (h) => h.memAvailableBytes);
    hostStat("scaph_host_memory_free_bytes", "Free memory of the host, in bytes", (h) => h.memFreeBytes);
    hostStat("scaph_host_swap_total_bytes", "Total swap of the host, in bytes", (h) => h.swapTotalBytes);
    hostStat("scaph_host_swap_free_bytes", "Free swap of the host, in bytes", (h) => h.swapFreeBytes);
    gauge("scaph_self_version", "Version of scaph, as a label; always 1", ["version"], (g) => g.set({ version: SCAPH_VERSION }, 1));
    gauge("scaph_self_memory_bytes", "Resident memory of this scaph process, in bytes", [], (g) => g.set(process.memoryUsage().rss));
    gauge("scaph_self_cpu_usage_percent", "CPU time of this scaph process since it started, in percent of one CPU", [], (g) => {
      const u = process.cpuUsage(this.startCpu);
      const wall = Math.max(1, Date.now() - this.startMs) * 1000;
      g.set((100 * (u.user + u.system)) / wall);
    });
    gauge("scaph_self_topo_procs_nb", "Number of processes seen in the last interval", [], (g) => g.set(s()?.processes.length ?? 0));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || path !== `/${this.o.suffix}`) {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`404 Not Found: metrics are at /${this.o.suffix}\n`);
      return;
    }
    try {
      await this.refresh();
      const body = await this.registry.metrics();
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
      res.end(body);
    } catch (err) {
      this.log.error(`prometheus: scrape failed: ${String(err)}`);
      res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`scrape failed: ${String(err)}\n`);
    }
  }

  /** Starts the HTTP server; resolves with the URL of the metrics page. */
  async listen(): Promise<string> {
    const server = createServer(
      // A client gets this long to send its headers and its request; an idle keep-alive connection is closed sooner.
      { headersTimeout: 10_000, requestTimeout: 15_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 },
      (req, res) => void this.handle(req, res),
    );
    server.maxHeadersCount = 100;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.o.port, this.o.address, () => resolve());
    });
    const a = server.address() as AddressInfo;
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/${this.o.suffix}`;
  }

  /** Stops serving: idle and slow connections (a client sending a byte a second) are closed at once. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    s.closeIdleConnections();
    // A scrape being answered gets a moment to finish; anything still open then is cut.
    const cut = setTimeout(() => s.closeAllConnections(), 500);
    await closed;
    clearTimeout(cut);
  }
}
