import { processDeltaTicks, readText } from "@scaph/common";
import type { Logger, ProcessInfo, ProcSample, Ticks, VmClaim, VmSource } from "@scaph/common";
import { readCgroupUsageUsec, vmCgroupFromProcFile } from "./cgroup.js";
import type { VmCgroup } from "./cgroup.js";
import { discoverVms, QemuScanner } from "./discover.js";
import type { DiscoveredVm, DiscoveryPolicy } from "./discover.js";
import { quoteName } from "../vm/names.js";
import type { DomainFacts, LibvirtDomains } from "./libvirt-source.js";
import type { PodLibvirts } from "./pod-libvirt.js";
import { inPod, kubevirtLabels } from "./kubevirt.js";

export interface ResolverOptions {
  procRoot: string;
  cgroupRoot: string;
  clockTicks: number;
  policy: DiscoveryPolicy;
  log: Logger;
  /** libvirt's domains, or null (--no-libvirt, or --qemu on the exporters). */
  libvirt: LibvirtDomains | null;
  /** The libvirt of each KubeVirt pod, for a qemu in a pod this host's libvirt does not know; absent with --no-libvirt. */
  pods?: PodLibvirts;
}

/**
 * scaph-host's VM resolver: each step, the VMs among the processes (see
 * discover.ts), each joined once with libvirt's domain and its cgroup, and
 * its CPU time over the interval: its cgroup's (which holds vhost and
 * iothreads) where found, else its qemu process's. The Meter splits energy
 * with it; nothing else identifies VMs.
 */
export class VmResolver implements VmSource {
  private readonly scanner: QemuScanner;
  /** Each qemu process's VM cgroup (read once per process and exec), null where it has none, and whether it is in a pod. */
  private readonly cgroups = new Map<string, { execs: number; cgroup: VmCgroup | null; pod: boolean }>();
  /** Each VM's cgroup usage at the last reading. */
  private readonly usage = new Map<string, { path: string; usec: number }>();
  /** VMs on their way in at the last step, by key. */
  private incoming = new Set<string>();

  constructor(private readonly options: ResolverOptions) {
    this.scanner = new QemuScanner(options.procRoot);
  }

  claims(proc: ProcSample, prevUptimeS: number): VmClaim[] {
    const lv = this.options.libvirt;
    void lv?.refresh(); // for the next step; this one uses the last list
    const list = lv?.latest ? { domains: lv.latest, knows: (firstSeenMs: number) => lv.latestAskedMs > firstSeenMs } : null;
    const vms = discoverVms(proc, this.scanner, list, this.options.policy, this.options.log);
    const claims: VmClaim[] = [];
    for (const vm of vms) {
      const cpu = this.cpuTicks(vm.key, vm.process, prevUptimeS);
      const pod = this.placeOf(vm.process).pod;
      // a qemu in a pod that this host's libvirt does not know: its domain is its pod's libvirt's (KubeVirt)
      const fromPod = !vm.libvirt && pod ? this.options.pods?.domainOf(vm.process.pid, vm.uuid, vm.name) : undefined;
      const transports =
        vm.libvirt && vm.uuid
          ? lv?.transportsOf(vm.uuid)
          : fromPod?.facts
            ? { ...podTransports(fromPod.facts), channelRoot: `${this.options.procRoot}/${vm.process.pid}/root` }
            : null;
      const libvirtNote = fromPod === undefined ? undefined : (fromPod?.note ?? "its pod's libvirt not asked yet");
      // KubeVirt's namespace and VMI, where its qemu is in a pod (its libvirt is the pod's, not the host's)
      const labels = { ...(vm.libvirt && vm.uuid ? lv?.labelsOf(vm.uuid) : undefined), ...kubevirtLabels(vm.name, pod) };
      claims.push({
        key: vm.key,
        name: vm.name,
        uuid: vm.uuid,
        libvirt: vm.libvirt,
        processKey: vm.process.key,
        ...(vm.incoming ? { incoming: true } : {}),
        ...(vm.restored ? { restored: true } : {}),
        ...cpu,
        ...(transports ? { transports } : {}),
        ...(libvirtNote ? { libvirtNote } : {}),
        ...(Object.keys(labels).length ? { labels } : {}),
      });
    }
    this.options.pods?.keepOnly(new Set(vms.map((v) => v.process.pid)));
    this.sayIncoming(vms);
    const live = new Set(vms.map((v) => v.key));
    for (const k of this.usage.keys()) if (!live.has(k)) this.usage.delete(k);
    for (const k of this.cgroups.keys()) if (!proc.processes.has(k)) this.cgroups.delete(k);
    return claims;
  }

  /** Logs a VM that arrives (paused, on its way in) and the step it runs here (its share begins). */
  private sayIncoming(vms: readonly DiscoveredVm[]): void {
    const now = new Set<string>();
    for (const vm of vms) {
      if (vm.incoming) {
        now.add(vm.key);
        if (!this.incoming.has(vm.key))
          this.options.log.info(
            `qemu: VM ${quoteName(vm.name)} (pid ${vm.process.pid}) is on its way in (paused for an incoming migration or a start): no share until libvirt says it runs here`,
          );
      } else if (this.incoming.has(vm.key)) this.options.log.info(`qemu: VM ${quoteName(vm.name)} runs here now: its share begins`);
    }
    this.incoming = now;
  }

  private cgroupOf(p: ProcessInfo): VmCgroup | null {
    return this.placeOf(p).cgroup;
  }

  /** A qemu process's VM cgroup and whether it runs in a pod, from its /proc/PID/cgroup read once per exec. */
  private placeOf(p: ProcessInfo): { cgroup: VmCgroup | null; pod: boolean } {
    const known = this.cgroups.get(p.key);
    if (known !== undefined && known.execs === p.execs) return known;
    let text = "";
    try {
      text = readText(`${this.options.procRoot}/${p.pid}/cgroup`);
    } catch {
      // gone, or unreadable: no cgroup, not a pod's
    }
    const place = { execs: p.execs, cgroup: text === "" ? null : vmCgroupFromProcFile(text), pod: inPod(text) };
    this.cgroups.set(p.key, place);
    return place;
  }

  private cpuTicks(key: string, p: ProcessInfo, prevUptimeS: number): { cpuTicks: Ticks; cpuSource: "cgroup" | "process" } {
    const cg = this.cgroupOf(p);
    const usec = cg ? readCgroupUsageUsec(this.options.cgroupRoot, cg) : null;
    if (cg && usec !== null) {
      const prev = this.usage.get(key);
      this.usage.set(key, { path: cg.path, usec });
      const toTicks = (us: number): Ticks => (us * this.options.clockTicks) / 1e6;
      if (prev && prev.path === cg.path) return { cpuTicks: Math.max(0, toTicks(usec - prev.usec)), cpuSource: "cgroup" };
      const started = p.startTicks / this.options.clockTicks >= prevUptimeS;
      return { cpuTicks: started ? toTicks(usec) : 0, cpuSource: "cgroup" };
    }
    this.usage.delete(key);
    return { cpuTicks: processDeltaTicks(p, prevUptimeS, this.options.clockTicks), cpuSource: "process" };
  }
}

/** A pod's domain's transports: its channel only (a tree share in a pod's domain would be the pod's own, not one this daemon writes). */
function podTransports(f: DomainFacts): { channelPath: string | null; share: boolean } {
  return { channelPath: f.channelPath, share: false };
}
