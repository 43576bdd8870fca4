import { processDeltaTicks } from "@scaph/common";
import type { Interval, Logger, Microjoules, Ticks } from "@scaph/common";
import { splitVmEnergy, subDomainNames, vmZoneGains } from "./attribute.js";
import { readCgroupUsageUsec, readVmCgroup } from "./cgroup.js";
import { discoverVms, QemuScanner } from "./discover.js";
import type { DiscoveredVm } from "./discover.js";
import type { LibvirtDomains } from "./libvirt-source.js";
import { isMountPoint } from "./tree.js";
import { VmTree, vmZones } from "./vm-tree.js";
import { join } from "node:path";
import { mkdir, rename, writeFile } from "node:fs/promises";

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
 * energy to them and writes their trees.
 */
export class Propagator {
  private readonly trees = new Map<string, VmTree>();
  private readonly usage = new Map<string, { path: string; usec: number }>();
  private readonly scanner = new QemuScanner();
  private readonly notMounted = new Set<string>();

  constructor(private readonly o: PropagatorOptions) {}

  /** The tree of a VM by key (tests, status). */
  tree(key: string): VmTree | undefined {
    return this.trees.get(key);
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
    const vms = discoverVms(curProc, this.scanner, domains, this.o.log);
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
        tree = new VmTree(this.o.baseDir, vm.name, this.o.log);
        this.trees.set(vm.key, tree);
        this.o.log.info(`qemu: VM ${vm.name} (pid ${vm.process.pid}${vm.uuid ? `, uuid ${vm.uuid}` : ""}${vm.libvirt ? ", libvirt" : ""}) found`);
      }
      await this.warnIfNotMounted(vm.name);
      const share = split.vmShares[i] ?? 0;
      const uj = split.vmUj[i] ?? 0;
      const gains = vmZoneGains(uj, share, energy, subNames);
      const written = await tree.update(zones, gains);
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
    const live = new Set(vms.map((v) => v.key));
    for (const [key, tree] of this.trees) {
      if (live.has(key)) continue;
      this.o.log.info(`qemu: VM ${tree.name} is gone: no longer written (its tree stays until teardown)`);
      this.trees.delete(key);
      this.usage.delete(key);
    }
    if (this.o.log.enabled("debug")) {
      const parts = steps.map((s) => `${s.name}=${s.energyUj} µJ (${s.cpuSource} ${s.cpuTicks.toFixed(1)} ticks)`);
      this.o.log.debug(
        `qemu: host ${energy.hostUj} µJ over ${energy.intervalS.toFixed(3)} s, busy ${busy} ticks; ` +
          `VMs: ${parts.join(", ") || "none"}; other processes ${split.othersUj} µJ`,
      );
    }
    await this.writeStatus(energy.intervalS, steps);
    return { hostUj: energy.hostUj, busyTicks: busy, intervalS: energy.intervalS, vms: steps, othersUj: split.othersUj };
  }

  /** `<base>/.scaph-status.json` (host side only): what `scaph-host status` shows. */
  private async writeStatus(intervalS: number, steps: readonly VmStep[]): Promise<void> {
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
      await mkdir(this.o.baseDir, { recursive: true });
      await writeFile(`${file}.tmp`, JSON.stringify(status) + "\n");
      await rename(`${file}.tmp`, file);
    } catch (err) {
      this.o.log.warnOnce(`status:${file}`, `qemu: cannot write ${file}: ${String(err)}`);
    }
  }

  private async warnIfNotMounted(name: string): Promise<void> {
    if (this.notMounted.has(name)) return;
    if (await isMountPoint(join(this.o.baseDir, name))) return;
    this.notMounted.add(name);
    this.o.log.warn(
      `qemu: ${join(this.o.baseDir, name)} is not a mount point: writing anyway; run "scaph-host setup ${name}" to give the VM its own tmpfs`,
    );
  }
}
