import { lstatSync, readdirSync } from "node:fs";
import type { DomainInfo } from "@scaph/libvirt";
import { CHANNEL_NAME, errorMessage } from "@scaph/common";
import type { Logger } from "@scaph/common";

/** What the live XML of a running domain says about scaph's transports. */
export interface DomainTransports {
  /** The unix socket of its channel, or null. */
  channelPath: string | null;
  /** Whether it has the tree share (virtiofs or 9p). */
  share: boolean;
}

/** What scaph reads from a running domain's live XML: its transports, and labels for exporters (Nova's names). */
export interface DomainFacts extends DomainTransports {
  labels: Readonly<Record<string, string>>;
}

/** Where libvirt's qemu driver makes the channels' sockets: `<dir>/domain-<id>-<name>/<channel name>`. */
export const DEFAULT_CHANNEL_DIR = "/var/lib/libvirt/qemu/channel/target";
/** Live XML is read again at least this often (steps), besides each new start and each channel socket that appears. */
const XML_EVERY = 30;

/**
 * libvirt's running domains, refreshed in the background: refresh() starts a
 * list on libvirt's worker thread when none is running, and `latest` is the
 * last list that came back, so a measurement step never waits on libvirt.
 * The live XML of a domain is read when it (re)starts (a new id), when a
 * channel socket appears in libvirt's channel directory (a hot-plug), and
 * every XML_EVERY refreshes. When libvirt goes away it logs once, `latest`
 * becomes null (discovery goes on from /proc alone) and later refreshes
 * reconnect. @scaph/libvirt (koffi and libvirt.so.0) is loaded on the first
 * refresh.
 */
export class LibvirtDomains {
  private conn: import("@scaph/libvirt").AsyncConnection | null = null;
  private down = false;
  private inFlight: Promise<void> | null = null;
  private closed = false;
  private refreshes = 0;
  /** The running domains as last listed; null before the first list or while libvirt is unreachable. */
  latest: DomainInfo[] | null = null;
  /** When the list in `latest` was asked for (ms): a qemu process seen later may not be in it yet. */
  latestAskedMs = 0;
  /** Transports of each running domain, by UUID (lower case), with the id they were read for. */
  private readonly transports = new Map<string, DomainFacts & { id: number | null; at: number; socket: boolean }>();

  constructor(
    readonly uri: string,
    private readonly log: Logger,
    private readonly timeoutMs = 5000,
    private readonly channelDir = DEFAULT_CHANNEL_DIR,
  ) {}

  /** What the live XML of a running domain said about its transports, or null if not read yet. */
  transportsOf(uuid: string): DomainTransports | null {
    const f = this.transports.get(uuid);
    return f ? { channelPath: f.channelPath, share: f.share } : null;
  }

  /** The labels a running domain's live XML gives it (OpenStack Nova's instance and project), or none. */
  labelsOf(uuid: string): Readonly<Record<string, string>> {
    return this.transports.get(uuid)?.labels ?? {};
  }

  /** Starts a list in the background (unless one is running); resolves when it is done. */
  refresh(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.inFlight ??= this.list().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async list(): Promise<void> {
    try {
      const { AsyncConnection, ListDomainsFlags } = await import("@scaph/libvirt");
      this.conn ??= await AsyncConnection.open(this.uri, { readOnly: true, timeoutMs: this.timeoutMs });
      const asked = Date.now();
      const domains = await this.conn.listDomains(ListDomainsFlags.ACTIVE);
      await this.readTransports(this.conn, domains);
      this.latest = domains;
      this.latestAskedMs = asked;
      if (this.down) this.log.info(`libvirt at ${this.uri} is back: VMs are named by libvirt again`);
      this.down = false;
    } catch (err) {
      if (!this.down) this.log.warn(`libvirt at ${this.uri} unreachable (${errorMessage(err)}): discovering VMs from /proc alone until it returns`);
      this.down = true;
      this.latest = null;
      const c = this.conn;
      this.conn = null;
      await c?.close().catch(() => {});
    }
  }

  /** Sockets in libvirt's channel directory, by domain id: which domains have a scaph channel now. */
  private channelSockets(): Map<number, boolean> {
    const out = new Map<number, boolean>();
    let dirs: string[];
    try {
      dirs = readdirSync(this.channelDir);
    } catch {
      return out;
    }
    for (const d of dirs) {
      const m = /^domain-(\d+)-/.exec(d);
      if (!m) continue;
      const st = lstatSync(`${this.channelDir}/${d}/${CHANNEL_NAME}`, { throwIfNoEntry: false });
      out.set(Number(m[1]), st?.isSocket() ?? false);
    }
    return out;
  }

  private async readTransports(conn: import("@scaph/libvirt").AsyncConnection, domains: readonly DomainInfo[]): Promise<void> {
    const periodic = ++this.refreshes % XML_EVERY === 0;
    const sockets = this.channelSockets();
    const live = new Set<string>();
    let xmlTools: typeof import("../vm/domain-xml.js") | null = null;
    for (const d of domains) {
      const uuid = d.uuid;
      live.add(uuid);
      const known = this.transports.get(uuid);
      const socket = d.id !== null && (sockets.get(d.id) ?? false);
      if (known && known.id === d.id && known.socket === socket && !periodic) continue;
      try {
        xmlTools ??= await import("../vm/domain-xml.js"); // an XML DOM, loaded when there is XML to read
        const xml = await conn.domainXml(uuid, 0);
        const channel = xmlTools.findChannel(xml);
        const t = {
          channelPath: channel?.path ?? null,
          share: xmlTools.findShare(xml) !== null,
          labels: xmlTools.findNovaLabels(xml),
          id: d.id,
          at: Date.now(),
          socket,
        };
        if (known?.channelPath !== t.channelPath && t.channelPath) this.log.info(`libvirt: domain ${d.name} has the channel at ${t.channelPath}`);
        this.transports.set(uuid, t);
      } catch (err) {
        this.log.warn(`libvirt: cannot read the live XML of ${d.name}: ${errorMessage(err)}`);
      }
    }
    for (const k of this.transports.keys()) if (!live.has(k)) this.transports.delete(k);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inFlight;
    await this.conn?.close();
    this.conn = null;
  }
}
