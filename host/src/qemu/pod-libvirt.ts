import { closeSync } from "node:fs";
import { errorMessage } from "@scaph/common";
import type { Logger } from "@scaph/common";
import type { DomainFacts } from "./libvirt-source.js";
import { openInRoot } from "./pod-root.js";

/** Where a KubeVirt launcher's libvirt listens, inside its pod: virtqemud's socket (v0.59 on), libvirtd's before. */
export const POD_LIBVIRT_SOCKETS = ["/var/run/libvirt/virtqemud-sock", "/var/run/libvirt/libvirt-sock"] as const;
/** The pod's libvirt runs as qemu (a session daemon) or, in KubeVirt's root mode, as root (system). */
const POD_URIS = ["qemu+unix:///session", "qemu+unix:///system"] as const;
/** The longest domain XML read from a pod's libvirt (bytes): a real one is a few KiB. */
const MAX_POD_XML = 1024 * 1024;
/** A pod's libvirt is asked again this often (ms): its domain's XML changes only at a hot-plug. */
export const POD_LIBVIRT_EVERY_MS = 30_000;

/** What a pod's libvirt said of the domain of one qemu, or why it could not be asked. */
export interface PodDomain {
  /** The domain's transports and labels, as its live XML says (its channel's path is inside the pod); null when not read. */
  facts: DomainFacts | null;
  /** Which socket answered, or why none did: for `status`. */
  note: string;
}

interface PodState {
  askedMs: number;
  inFlight: boolean;
  domain: PodDomain | null;
}

/**
 * The libvirt of each KubeVirt pod, reached from the node through its qemu's
 * /proc/<pid>/root, as KubeVirt's own node agent reaches the pod's sockets.
 * The pod's filesystem is its tenant's: the socket is found with openInRoot
 * (no link of the tenant's followed out of the root) and connected to
 * through the descriptor found, never by its path. Each qemu's domain is
 * asked in the background, once and then every POD_LIBVIRT_EVERY_MS, so that
 * a step never waits on a pod; a pod whose libvirt cannot be reached keeps
 * its VM's share (from /proc), and `note` says why.
 */
export class PodLibvirts {
  private readonly pods = new Map<number, PodState>();

  constructor(
    private readonly procRoot: string,
    private readonly log: Logger,
    private readonly timeoutMs = 5000,
    private readonly everyMs = POD_LIBVIRT_EVERY_MS,
  ) {}

  /** What is known of the domain of the qemu `pid` (uuid from its command line), asking its pod again when due. */
  domainOf(pid: number, uuid: string | null, name: string): PodDomain | null {
    let p = this.pods.get(pid);
    if (!p) this.pods.set(pid, (p = { askedMs: -Infinity, inFlight: false, domain: null }));
    if (!p.inFlight && Date.now() - p.askedMs >= this.everyMs) {
      p.askedMs = Date.now();
      void this.askNow(pid, uuid, name);
    }
    return p.domain;
  }

  /** Asks the pod of the qemu `pid` now; what domainOf() gives from then on. */
  async askNow(pid: number, uuid: string | null, name: string): Promise<PodDomain> {
    let p = this.pods.get(pid);
    if (!p) this.pods.set(pid, (p = { askedMs: Date.now(), inFlight: true, domain: null }));
    p.inFlight = true;
    try {
      const d = await this.ask(pid, uuid, name);
      if (p.domain?.note !== d.note) this.log.info(`qemu: VM ${name} (pid ${pid}): ${d.note}`);
      p.domain = d;
      return d;
    } finally {
      p.inFlight = false;
    }
  }

  /** Forgets the qemu processes that are gone. */
  keepOnly(pids: ReadonlySet<number>): void {
    for (const pid of this.pods.keys()) if (!pids.has(pid)) this.pods.delete(pid);
  }

  private async ask(pid: number, uuid: string | null, name: string): Promise<PodDomain> {
    const root = `${this.procRoot}/${pid}/root`;
    const top = openInRoot(root, "/", "directory");
    if (typeof top === "string") return { facts: null, note: `its pod's libvirt unreachable: ${top}` };
    closeSync(top.fd);
    const why: string[] = [];
    for (const socket of POD_LIBVIRT_SOCKETS) {
      const found = openInRoot(root, socket, "socket");
      if (typeof found === "string") {
        why.push(found);
        continue;
      }
      try {
        for (const base of POD_URIS) {
          try {
            const facts = await this.read(`${base}?socket=${found.viaFd}`, uuid, name);
            return facts
              ? { facts, note: `its pod's libvirt at ${socket} (${base.slice("qemu+unix://".length)}) knows it` }
              : { facts: null, note: `its pod's libvirt at ${socket} has no domain ${uuid ?? name}` };
          } catch (err) {
            why.push(`${socket} (${base.slice("qemu+unix://".length)}): ${errorMessage(err)}`);
          }
        }
      } finally {
        closeSync(found.fd);
      }
    }
    return { facts: null, note: `its pod's libvirt unreachable through ${root}: ${why.join("; ")}` };
  }

  /** The domain's facts from the libvirt at `uri`, or null when it has no such domain; throws when it cannot be asked. */
  private async read(uri: string, uuid: string | null, name: string): Promise<DomainFacts | null> {
    const { AsyncConnection, ListDomainsFlags } = await import("@scaph/libvirt");
    const conn = await AsyncConnection.open(uri, { readOnly: true, timeoutMs: this.timeoutMs });
    try {
      const domains = await conn.listDomains(ListDomainsFlags.ACTIVE);
      const d = domains.find((x) => (uuid !== null ? x.uuid === uuid : x.name === name));
      if (!d) return null;
      const xml = await conn.domainXml(d.uuid, 0);
      // the pod's libvirt is its tenant's: a domain's XML is a few KiB, and no more is parsed
      if (xml.length > MAX_POD_XML) throw new Error(`its domain XML is ${xml.length} bytes, above ${MAX_POD_XML}: not read`);
      const { findChannel, findShare } = await import("../vm/domain-xml.js");
      return { channelPath: findChannel(xml)?.path ?? null, share: findShare(xml) !== null, labels: {} };
    } finally {
      await conn.close();
    }
  }
}
