import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { processDeltaTicks, replaceFile } from "@scaph/common";
import type { Interval, Logger, Microjoules, Ticks } from "@scaph/common";
import { splitVmEnergy, subDomainNames, vmZoneGains } from "./attribute.js";
import { readCgroupUsageUsec, readVmCgroup } from "./cgroup.js";
import { discoverVms, QemuScanner } from "./discover.js";
import type { DiscoveredVm, DiscoveryPolicy } from "./discover.js";
import type { LibvirtDomains } from "./libvirt-source.js";
import { DaemonState } from "./state.js";
import { isMountPoint } from "./tree.js";
import { VmTree, vmZones } from "./vm-tree.js";

/** Written by the daemon each step in the base dir, read by `scaph-host status`. */
export const STATUS_FILE = ".scaph-status.json";

export interface DaemonStatus {
  timestamp_s: number;
  step_s: number;
  vms: { name: string; uuid: string | null; power_uw: number; written: boolean }[];
}

export interface PropagatorOptions {
  baseDir: string;
  procRoot: string;
  cgroupRoot: string;
  clockTicks: number;
  log: Logger;
  /** libvirt's domains, or null for --no-libvirt. */
  libvirt: LibvirtDomains | null;
  /** Wrap point of the host's zone with this name (`package` for packages), or null. */
  zoneMax: (name: string) => number | null;
  /** Who may run a VM, how many trees, libvirt's pids. */
  policy: DiscoveryPolicy;
}

/** What one step did for one VM. */
export interface VmStep {
  name: string;
  key: string;
  uuid: string | null;
  pid: number;
  libvirt: boolean;
  /** Where the VM's CPU time came from. */
  cpuSource: "cgroup" | "process";
  cpuTicks: Ticks;
  share: number;
  energyUj: Microjoules;
  /** Gain per zone of the tree. */
  zoneGainsUj: Map<string, Microjoules>;
  written: boolean;
}

export interface PropagationStep {
  hostUj: Microjoules;
  busyTicks: Ticks;
  intervalS: number;
  vms: VmStep[];
  /** Energy of all non-VM processes. */
  othersUj: Microjoules;
}

/**
 * The qemu exporter: each step, finds the running VMs, attributes host
 * energy to them and writes their trees. Counters live in memory and in the
 * daemon's own state file in the base dir (never read back from a tree).
 */
export class Propagator {
  private readonly trees = new Map<string, VmTree>();
  private readonly usage = new Map<string, { path: string; usec: number }>();
  private readonly scanner: QemuScanner;
  private readonly notMounted = new Set<string>();
  private readonly state: DaemonState;
  private statusFailing: string | null = null;

  constructor(private readonly o: PropagatorOptions) {
    this.scanner = new QemuScanner(o.procRoot);
    this.state = DaemonState.load(o.baseDir, o.log);
  }

  private async cpuTicks(vm: DiscoveredVm, interval: Interval): Promise<{ ticks: Ticks; source: "cgroup" | "process" }> {
    const cg = await readVmCgroup(this.o.procRoot, vm.process.pid);
    const usec = cg ? await readCgroupUsageUsec(this.o.cgroupRoot, cg) : null;
    if (cg && usec !== null) {
      const prev = this.usage.get(vm.key);
      this.usage.set(vm.key, { path: cg.path, usec });
      const toTicks = (us: number): Ticks => (us * this.o.clockTicks) / 1e6;
      if (prev && prev.path === cg.path) return { ticks: Math.max(0, toTicks(usec - prev.usec)), source: "cgroup" };
      const started = vm.process.startTicks / this.o.clockTicks >= interval.prevProc.uptimeS;
      return { ticks: started ? toTicks(usec) : 0, source: "cgroup" };
    }
    this.usage.delete(vm.key);
    return { ticks: processDeltaTicks(vm.process, interval.prevProc, this.o.clockTicks), source: "process" };
  }

  async step(interval: Interval): Promise<PropagationStep> {
    const { energy, curProc, prevProc } = interval;
    const domains = this.o.libvirt ? await this.o.libvirt.poll() : null;
    const vms = discoverVms(curProc, this.scanner, domains, this.o.policy, this.o.log);
    const cpu = await Promise.all(vms.map((vm) => this.cpuTicks(vm, interval)));
    const vmPids = new Set(vms.map((v) => v.process.key));
    const others = [...curProc.processes.values()].filter((p) => !vmPids.has(p.key));
    const otherTicks = others.map((p) => processDeltaTicks(p, prevProc, this.o.clockTicks));
    const busy = Math.max(0, curProc.busyTicks - prevProc.busyTicks);
    const split = splitVmEnergy(
      energy.hostUj,
      busy,
      cpu.map((c) => c.ticks),
      otherTicks,
    );
    const subNames = subDomainNames(energy);
    const zones = vmZones(subNames, this.o.zoneMax);
    const steps: VmStep[] = [];
    for (const [i, vm] of vms.entries()) {
      let tree = this.trees.get(vm.key);
      if (!tree || tree.name !== vm.name) {
        const saved = this.state.counters(vm.key);
        tree = new VmTree(this.o.baseDir, vm.name, this.o.log, saved);
        this.trees.set(vm.key, tree);
        this.o.log.info(
          `qemu: VM ${vm.name} (pid ${vm.process.pid}${vm.uuid ? `, uuid ${vm.uuid}` : ""}${vm.libvirt ? ", libvirt" : ""}) found` +
            (saved ? ", its counters continued from the daemon's state" : ""),
        );
      }
      this.warnIfNotMounted(vm.name);
      const share = split.vmShares[i] ?? 0;
      const uj = split.vmUj[i] ?? 0;
      const gains = vmZoneGains(uj, share, energy, subNames);
      const written = tree.update(zones, gains);
      this.state.set(vm.key, vm.name, tree.counters);
      steps.push({
        name: vm.name,
        key: vm.key,
        uuid: vm.uuid,
        pid: vm.process.pid,
        libvirt: vm.libvirt,
        cpuSource: cpu[i]?.source ?? "process",
        cpuTicks: cpu[i]?.ticks ?? 0,
        share,
        energyUj: uj,
        zoneGainsUj: gains,
        written,
      });
    }
    this.dropGone(vms, curProc.processes);
    if (this.o.log.enabled("debug")) {
      const parts = steps.map((s) => `${s.name}=${s.energyUj} µJ (${s.cpuSource} ${s.cpuTicks.toFixed(1)} ticks)`);
      this.o.log.debug(
        `qemu: host ${energy.hostUj} µJ over ${energy.intervalS.toFixed(3)} s, busy ${busy} ticks; ` +
          `VMs: ${parts.join(", ") || "none"}; other processes ${split.othersUj} µJ`,
      );
    }
    this.state.prune(4 * this.o.policy.maxVms);
    this.state.save();
    this.writeStatus(energy.intervalS, steps);
    return { hostUj: energy.hostUj, busyTicks: busy, intervalS: energy.intervalS, vms: steps, othersUj: split.othersUj };
  }

  /** Forgets VMs that are gone, and what was logged about processes that are gone. */
  private dropGone(vms: readonly DiscoveredVm[], processes: ReadonlyMap<string, unknown>): void {
    const live = new Set(vms.map((v) => v.key));
    for (const [key, tree] of this.trees) {
      if (live.has(key)) continue;
      this.o.log.info(`qemu: VM ${tree.name} is gone: no longer written (its tree stays until teardown)`);
      this.trees.delete(key);
      this.usage.delete(key);
    }
    const names = new Set(vms.map((v) => v.name));
    for (const n of this.notMounted) if (!names.has(n)) this.notMounted.delete(n);
    this.o.log.forget((k) => {
      const m = /^\w+:(\d+:\d+)$/.exec(k);
      return m !== null && !processes.has(m[1] as string);
    });
  }

  /** `<base>/.scaph-status.json` (host side only): what `scaph-host status` shows. */
  private writeStatus(intervalS: number, steps: readonly VmStep[]): void {
    const status: DaemonStatus = {
      timestamp_s: Date.now() / 1000,
      step_s: intervalS,
      vms: steps.map((s) => ({
        name: s.name,
        uuid: s.uuid,
        power_uw: intervalS > 0 ? s.energyUj / intervalS : 0,
        written: s.written,
      })),
    };
    const file = join(this.o.baseDir, STATUS_FILE);
    try {
      mkdirSync(this.o.baseDir, { recursive: true });
      replaceFile(this.o.baseDir, STATUS_FILE, JSON.stringify(status) + "\n");
      if (this.statusFailing !== null) this.o.log.info(`qemu: ${file} written again`);
      this.statusFailing = null;
    } catch (err) {
      const msg = String(err);
      if (msg !== this.statusFailing) this.o.log.warn(`qemu: cannot write ${file}: ${msg}`);
      this.statusFailing = msg;
    }
  }

  private warnIfNotMounted(name: string): void {
    if (this.notMounted.has(name)) return;
    if (isMountPoint(join(this.o.baseDir, name))) return;
    this.notMounted.add(name);
    this.o.log.warn(
      `qemu: ${join(this.o.baseDir, name)} is not a mount point: writing anyway; run "scaph-host setup ${name}" to give the VM its own tmpfs`,
    );
  }
}
