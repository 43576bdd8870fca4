import type { DomainInfo } from "@scaph/libvirt";
import { errorMessage } from "@scaph/common";
import type { Logger } from "@scaph/common";

/**
 * libvirt's running domains, refreshed in the background: refresh() starts a
 * list on libvirt's worker thread when none is running, and `latest` is the
 * last list that came back, so a measurement step never waits on libvirt.
 * When libvirt goes away it logs once, `latest` becomes null (discovery goes
 * on from /proc alone) and later refreshes reconnect. @scaph/libvirt (koffi
 * and libvirt.so.0) is loaded on the first refresh.
 */
export class LibvirtDomains {
  private conn: import("@scaph/libvirt").AsyncConnection | null = null;
  private down = false;
  private inFlight: Promise<void> | null = null;
  private closed = false;
  /** The running domains as last listed; null before the first list or while libvirt is unreachable. */
  latest: DomainInfo[] | null = null;
  /** When the list in `latest` was asked for (ms): a qemu process seen later may not be in it yet. */
  latestAskedMs = 0;

  constructor(
    readonly uri: string,
    private readonly log: Logger,
    private readonly timeoutMs = 5000,
  ) {}

  /** Starts a list in the background (unless one is running); resolves when it is done. */
  refresh(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.inFlight ??= this.list().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** Lists now and returns the result (tests, and the daemon's first step). */
  async poll(): Promise<DomainInfo[] | null> {
    await this.refresh();
    return this.latest;
  }

  private async list(): Promise<void> {
    try {
      const { AsyncConnection, ListDomainsFlags } = await import("@scaph/libvirt");
      this.conn ??= await AsyncConnection.open(this.uri, { readOnly: true, timeoutMs: this.timeoutMs });
      const asked = Date.now();
      this.latest = await this.conn.listDomains(ListDomainsFlags.ACTIVE);
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

  async close(): Promise<void> {
    this.closed = true;
    await this.inFlight;
    await this.conn?.close();
    this.conn = null;
  }
}
