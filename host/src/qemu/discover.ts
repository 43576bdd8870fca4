import { readBounded } from "@scaph/common";
import type { Logger, ProcessInfo, ProcSample } from "@scaph/common";
import type { DomainInfo } from "@scaph/libvirt";
import { DomainState, PausedReason, RunningReason } from "@scaph/libvirt/flags";
import { claimsQemu, parseQemuCmdline } from "./cmdline.js";
import type { QemuIdentity } from "./cmdline.js";
import { quoteName, unsafeNameReason } from "../vm/names.js";

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
  /** Whether libvirt's own pid file for the domain names this process. */
  libvirtPid: boolean;
  /**
   * A libvirt domain whose qemu is here but which does not run here yet: an
   * incoming live migration (or a restore, or a start) still paused. It is
   * no VM of this host until libvirt says it runs: its qemu's work counts as
   * an ordinary process's, and no epoch begins (the source host is still
   * charging the running guest).
   */
  incoming: boolean;
  /**
   * libvirt first said it runs here with the running reason `restored`: its
   * qemu began from a saved image (`virsh restore`, a managed save), so the
   * guest's memory is what it was when it was saved here.
   */
  restored: boolean;
}

/** Whether a domain is paused on its way in (incoming migration, restore, start-up), not by anyone's choice. */
export function pausedOnTheWayIn(d: Pick<DomainInfo, "state" | "reason">): boolean {
  return d.state === DomainState.PAUSED && (d.reason === PausedReason.MIGRATION || d.reason === PausedReason.STARTING_UP);
}

/** Who may run a VM, and how many trees there may be. */
export interface DiscoveryPolicy {
  /** Real and effective uid a qemu process must run as: root and the hypervisor's qemu user (--vm-user). */
  allowedUids: ReadonlySet<number>;
  /** At most this many VMs get a tree (--max-vms). */
  maxVms: number;
  /** The pid libvirt recorded for a running domain (its pid file), or null when unknown. */
  libvirtPid(domain: string): number | null;
}

/** libvirt's running domains as last listed, and whether that list can know a process first seen at a time. */
export interface DomainList {
  domains: readonly DomainInfo[];
  /** Whether the list was asked for after `firstSeenMs`, so a libvirt domain started then is in it. */
  knows(firstSeenMs: number): boolean;
}

/** The real and effective uid of a process, from /proc/PID/status; null if unreadable. */
export function readUids(procRoot: string, pid: number): [number, number] | null {
  const r = readBounded(`${procRoot}/${pid}/status`, 16384);
  if (!r.ok) return null;
  const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(r.text);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

interface Scanned {
  /** The process's exec count when scanned: another exec, another scan. */
  execs: number;
  /** When this process was first seen as it is now (ms): at its start, or at its last exec. */
  firstSeenMs: number;
  id: QemuIdentity | null;
  uids: [number, number] | null;
  /** argv[0] says qemu while the executable is not (logged as a possible spoof). */
  posing: boolean;
  /** Its domain was seen to run here (not paused on its way in): from then on it is this host's VM, whatever its state. */
  ranHere: boolean;
  /** When it was first seen to run here, libvirt said it was restored (running reason `restored`). */
  restored: boolean;
}

/**
 * Parses each process once per exec (its exe, cmdline and owner change only
 * then): a process first seen as libvirt's child, before it execs qemu, is
 * scanned again once it has.
 */
export class QemuScanner {
  private readonly cache = new Map<string, Scanned>();

  constructor(private readonly procRoot: string) {}

  scan(p: ProcessInfo): Scanned {
    let s = this.cache.get(p.key);
    if (!s || s.execs !== p.execs) {
      const id = parseQemuCmdline(p.exe, p.cmdline);
      s = {
        execs: p.execs,
        firstSeenMs: Date.now(),
        id,
        uids: id ? readUids(this.procRoot, p.pid) : null,
        posing: !id && p.exe !== "" && claimsQemu(p.cmdline[0] ?? ""),
        ranHere: false,
        restored: false,
      };
      this.cache.set(p.key, s);
    }
    return s;
  }

  /** Drops cache entries of processes that are gone. */
  prune(sample: ProcSample): void {
    for (const k of this.cache.keys()) if (!sample.processes.has(k)) this.cache.delete(k);
  }
}

/** Log keys for a process, to be forgotten when it goes. */
export const processLogKey = (p: ProcessInfo, what: string): string => `${what}:${p.key}:${p.execs}`;

/**
 * Finds the VMs among the processes. Only a process whose executable is a
 * qemu binary and which runs as root or the VM user is a candidate: a local
 * user cannot make one by naming a process qemu (argv[0]) or copying a
 * VM's -name or -uuid. With libvirt's domains, a candidate is joined by
 * UUID, then by name; where libvirt's pid file names another process for
 * that domain, the candidate is a spoof. Two candidates for one VM (or one
 * directory): the one libvirt's pid file names wins, else the older; the
 * other is logged. Unsafe names are refused; at most `maxVms` VMs. A
 * candidate that libvirt's last list cannot know yet (it was asked for
 * before the process was first seen) waits for the next list: one step as
 * an ordinary process, then joined with its domain (or found not to be one).
 * A domain paused on its way in (an incoming migration) is returned with
 * `incoming` until libvirt first says it runs: the resolver gives it no share.
 */
export function discoverVms(sample: ProcSample, scanner: QemuScanner, list: DomainList | null, policy: DiscoveryPolicy, log: Logger): DiscoveredVm[] {
  scanner.prune(sample);
  const domains = list?.domains ?? [];
  const byUuid = new Map(domains.map((d) => [d.uuid, d]));
  const byName = new Map(domains.map((d) => [d.name, d]));
  const candidates: DiscoveredVm[] = [];
  for (const p of sample.processes.values()) {
    const scanned = scanner.scan(p);
    const { id, uids, posing, firstSeenMs } = scanned;
    if (!id) {
      if (posing) {
        log.warnOnce(processLogKey(p, "argv0"), `process ${p.pid} calls itself ${quoteName(p.cmdline[0] ?? "")} but runs ${quoteName(p.exe)}: not a VM`);
      }
      continue;
    }
    if (!uids || !policy.allowedUids.has(uids[0]) || !policy.allowedUids.has(uids[1])) {
      log.warnOnce(
        processLogKey(p, "owner"),
        `qemu process ${p.pid} runs as uid ${uids ? uids.join("/") : "unknown"}, not root or the VM user (--vm-user): ignored, as a possible spoof`,
      );
      continue;
    }
    const dom = (id.uuid ? byUuid.get(id.uuid) : undefined) ?? (id.name !== null ? byName.get(id.name) : undefined);
    if (!dom && list && !list.knows(firstSeenMs)) continue; // libvirt's next list will say whether it is a domain
    const name = dom?.name ?? id.name;
    if (name === null) {
      log.warnOnce(processLogKey(p, "noname"), `qemu process ${p.pid} has no -name and no libvirt domain: skipped`);
      continue;
    }
    const why = unsafeNameReason(name);
    if (why !== null) {
      log.warnOnce(processLogKey(p, "unsafe"), `qemu process ${p.pid}: VM name ${quoteName(name)} refused as a directory (${why})`);
      continue;
    }
    let libvirtPid = false;
    if (dom) {
      const recorded = policy.libvirtPid(dom.name);
      if (recorded !== null && recorded !== p.pid) {
        log.warnOnce(
          processLogKey(p, "pid"),
          `qemu process ${p.pid} claims libvirt domain ${quoteName(dom.name)}, whose pid is ${recorded}: ignored, as a spoof`,
        );
        continue;
      }
      libvirtPid = recorded === p.pid;
    }
    if (dom && !pausedOnTheWayIn(dom) && !scanned.ranHere) {
      scanned.ranHere = true;
      scanned.restored = dom.state === DomainState.RUNNING && dom.reason === RunningReason.RESTORED;
    }
    const incoming = dom !== undefined && !scanned.ranHere;
    const uuid = dom?.uuid ?? id.uuid;
    candidates.push({
      key: uuid ?? `name:${name}`,
      name,
      uuid,
      process: p,
      identity: id,
      libvirt: dom !== undefined,
      libvirtPid,
      incoming,
      restored: scanned.restored,
    });
  }
  // Best claim first: libvirt's pid file, then the oldest process.
  candidates.sort((a, b) => Number(b.libvirtPid) - Number(a.libvirtPid) || a.process.startTicks - b.process.startTicks || a.process.pid - b.process.pid);
  const vms: DiscoveredVm[] = [];
  const owner = new Map<string, DiscoveredVm>();
  for (const c of candidates) {
    const first = owner.get(c.key) ?? owner.get(`dir:${c.name}`);
    if (first) {
      log.warnOnce(
        processLogKey(c.process, "dup"),
        `qemu process ${c.process.pid} claims VM ${quoteName(c.name)}, already given to pid ${first.process.pid}` +
          `${first.libvirtPid ? " (libvirt's)" : " (the older)"}: skipped`,
      );
      continue;
    }
    if (vms.length >= policy.maxVms) {
      log.warnOnce(`maxvms:${c.key}`, `more than ${policy.maxVms} VMs (--max-vms): VM ${quoteName(c.name)} gets no tree`);
      continue;
    }
    owner.set(c.key, c);
    owner.set(`dir:${c.name}`, c);
    vms.push(c);
  }
  return vms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // by code unit: no ICU collation in the daemon
}
