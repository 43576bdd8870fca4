import { AsyncConnection, ListDomainsFlags } from "@scaph/libvirt";
import type { DomainInfo } from "@scaph/libvirt";
import { errorMessage } from "@scaph/common";
import type { Logger } from "@scaph/common";

/**
 * Lists libvirt's running domains each step through a worker-thread
 * connection. When libvirt goes away it logs once, returns null (discovery
 * goes on from /proc alone) and reconnects on a later poll.
 */
export class LibvirtDomains {
  private conn: AsyncConnection | null = null;
  private down = false;

  constructor(
    readonly uri: string,
    private readonly log: Logger,
    private readonly timeoutMs = 5000,
  ) {}

  async poll(): Promise<DomainInfo[] | null> {
    try {
      if (!this.conn) this.conn = await AsyncConnection.open(this.uri, { readOnly: true, timeoutMs: this.timeoutMs });
      const doms = await this.conn.listDomains(ListDomainsFlags.ACTIVE);
      if (this.down) this.log.info(`libvirt at ${this.uri} is back: VMs are named by libvirt again`);
      this.down = false;
      return doms;
    } catch (err) {
      if (!this.down) this.log.warn(`libvirt at ${this.uri} unreachable (${errorMessage(err)}): discovering VMs from /proc alone until it returns`);
      this.down = true;
      const c = this.conn;
      this.conn = null;
      await c?.close().catch(() => {});
      return null;
    }
  }

  async close(): Promise<void> {
    await this.conn?.close();
    this.conn = null;
  }
}
