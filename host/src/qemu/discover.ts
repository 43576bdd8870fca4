import type { Logger, ProcessInfo, ProcSample } from "@scaph/common";
import type { DomainInfo } from "@scaph/libvirt";
import { parseQemuCmdline } from "./cmdline.js";
import type { QemuIdentity } from "./cmdline.js";
import { unsafeNameReason } from "./names.js";

/** A running VM: its qemu process, joined with libvirt where possible. */
export interface DiscoveredVm {
  /** Stable key across steps: the UUID, else `name:NAME`. */
  key: string;
  /** Directory name and `vmname` label: libvirt's name, else qemu's -name. */
  name: string;
  uuid: string | null;
  process: ProcessInfo;
  identity: QemuIdentity;
  /** Whether libvirt knows this VM (joined by UUID or name). */
  libvirt: boolean;
}

/** Parses each process once per lifetime (cmdline never changes). */
export class QemuScanner {
  private readonly cache = new Map<string, QemuIdentity | null>();

  identify(p: ProcessInfo): QemuIdentity | null {
    if (!this.cache.has(p.key)) this.cache.set(p.key, parseQemuCmdline(p.exe, p.cmdline));
    return this.cache.get(p.key) ?? null;
  }

  /** Drops cache entries of processes that are gone. */
  prune(sample: ProcSample): void {
    for (const k of this.cache.keys()) if (!sample.processes.has(k)) this.cache.delete(k);
  }
}

/**
 * Finds the VMs among the processes. With libvirt's domains, a qemu process
 * is joined by UUID, then by name; without, its -name is used. Processes with
 * no usable name and unsafe names are skipped with a log line (once each).
 */
export function discoverVms(
  sample: ProcSample,
  scanner: QemuScanner,
  domains: readonly DomainInfo[] | null,
  log: Logger,
): DiscoveredVm[] {
  scanner.prune(sample);
  const byUuid = new Map((domains ?? []).map((d) => [d.uuid.toLowerCase(), d]));
  const byName = new Map((domains ?? []).map((d) => [d.name, d]));
  const vms: DiscoveredVm[] = [];
  const seen = new Set<string>();
  for (const p of sample.processes.values()) {
    const id = scanner.identify(p);
    if (!id) continue;
    const dom = (id.uuid ? byUuid.get(id.uuid) : undefined) ?? (id.name !== null ? byName.get(id.name) : undefined);
    const name = dom?.name ?? id.name;
    if (name === null) {
      log.warnOnce(`noname:${p.key}`, `qemu process ${p.pid} has no -name and no libvirt domain: skipped`);
      continue;
    }
    const why = unsafeNameReason(name);
    if (why !== null) {
      log.warnOnce(`unsafe:${p.key}`, `qemu process ${p.pid}: VM name ${JSON.stringify(name)} refused as a directory (${why})`);
      continue;
    }
    const uuid = dom?.uuid.toLowerCase() ?? id.uuid;
    const key = uuid ?? `name:${name}`;
    if (seen.has(key) || seen.has(`dir:${name}`)) {
      log.warnOnce(`dup:${p.key}`, `qemu process ${p.pid}: a second process for VM ${name}: skipped`);
      continue;
    }
    seen.add(key);
    seen.add(`dir:${name}`);
    vms.push({ key, name, uuid, process: p, identity: id, libvirt: dom !== undefined });
  }
  return vms.sort((a, b) => a.name.localeCompare(b.name));
}
