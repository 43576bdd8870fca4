import { CHANNEL_NAME, errorMessage } from "@scaph/common";
import type { Logger } from "@scaph/common";
import type { AsyncConnection, DomainEvents, LifecycleEvent } from "@scaph/libvirt";
import { DomainEventType } from "@scaph/libvirt/flags";

export interface AutoSetupOptions {
  uri: string;
  /** Only domains whose name matches (e.g. ^instance- for Nova's); null: every domain. */
  domains: RegExp | null;
  log: Logger;
  /** Per libvirt call, ms. */
  timeoutMs?: number;
  /** Before a failed subscription is tried again, ms. */
  retryMs?: number;
}

/** What a domain needs done. */
type Work = "defined" | "started";

/**
 * `scaph-host qemu --auto-setup`: every domain (whose name matches
 * --domains) gets the channel transport without a manual step.
 *
 * - When a domain is defined, the channel goes into its persistent XML. This
 *   is repeated at every definition, so it holds when OpenStack Nova writes
 *   the domain's XML anew (at each start, resize, migration).
 * - When a domain starts, the channel is hot-plugged into it where it lacks
 *   one and its running config has a virtio-serial controller (libvirt cannot
 *   hot-plug the controller); else it has it at its next start (said once).
 * - At start, every existing domain is handled once that way.
 *
 * libvirt's events come from a worker of their own (DomainEvents); the
 * changes go through a read-write connection whose calls run on another
 * worker with a timeout: the measurement loop never waits on libvirt. A
 * domain's work is done one at a time, in order; the definition it makes
 * comes back as an event, which then finds nothing to do.
 */
export class AutoSetup {
  private events: DomainEvents | null = null;
  private conn: AsyncConnection | null = null;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** Domains told they get the channel at their next start, so as to say it once. */
  private readonly restartSaid = new Set<string>();

  constructor(private readonly options: AutoSetupOptions) {}

  async start(): Promise<void> {
    const { AsyncConnection, DomainEvents } = await import("@scaph/libvirt");
    this.conn = await AsyncConnection.open(this.options.uri, { timeoutMs: this.options.timeoutMs ?? 10_000 });
    this.events = DomainEvents.start(
      this.options.uri,
      {
        onEvent: (e) => this.onEvent(e),
        onConnected: () => {
          this.options.log.info(
            `auto-setup: subscribed to ${this.options.uri}'s domain events${this.options.domains ? ` (domains matching ${this.options.domains.source})` : ""}`,
          );
          void this.sweep(); // again after a reconnection: events missed meanwhile
        },
        onDisconnected: (m) => this.options.log.warn(`auto-setup: libvirt events lost (${m}); subscribing again`),
      },
      this.options.retryMs,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.events?.close();
    await this.chain;
    await this.conn?.close();
  }

  private wanted(name: string): boolean {
    return this.options.domains === null || this.options.domains.test(name);
  }

  private onEvent(e: LifecycleEvent): void {
    if (!this.wanted(e.name)) return;
    if (e.event === DomainEventType.DEFINED) this.enqueue(e.uuid, e.name, "defined");
    else if (e.event === DomainEventType.STARTED) this.enqueue(e.uuid, e.name, "started");
    else if (e.event === DomainEventType.UNDEFINED) this.restartSaid.delete(e.uuid);
  }

  /** Every existing domain, once: as defined, and as started where it runs. */
  private async sweep(): Promise<void> {
    try {
      const conn = this.conn;
      if (!conn) return;
      for (const d of await conn.listDomains()) if (this.wanted(d.name)) this.enqueue(d.uuid, d.name, d.active ? "started" : "defined");
    } catch (err) {
      this.options.log.warn(`auto-setup: cannot list the domains: ${errorMessage(err)}`);
    }
  }

  private enqueue(uuid: string, name: string, work: Work): void {
    this.chain = this.chain.then(() => (this.closed ? undefined : this.ensure(uuid, name, work)));
  }

  private async ensure(uuid: string, name: string, work: Work): Promise<void> {
    const conn = this.conn;
    if (!conn) return;
    const xml = await import("../vm/domain-xml.js"); // an XML DOM, loaded when there is XML to edit
    const { DeviceModifyFlags, DomainXMLFlags, LibvirtError } = await import("@scaph/libvirt");
    try {
      // The persistent definition: where the next start takes its config from (a transient domain has none)
      // The persistent definition: where the next start takes its config from (a transient domain has none).
      // The channel goes in as a device of the domain's config (attach with CONFIG), never by defining the
      // whole XML again: libvirt does that on the domain object it holds, so a domain undefined meanwhile (a
      // spawn that failed and was cleaned up) is not brought back, a concurrent edit is not overwritten, and
      // the rest of the XML is left byte for byte.
      if ((await conn.isPersistent(uuid)) && !xml.findChannel(await conn.domainXml(uuid, DomainXMLFlags.INACTIVE))) {
        await conn.attachDevice(uuid, xml.channelXml(), DeviceModifyFlags.CONFIG);
        this.options.log.info(`auto-setup: ${name}: add <channel> virtio ${CHANNEL_NAME} (its persistent XML)`);
      }
      if (work !== "started") return;
      const live = await conn.domainXml(uuid, 0);
      if (xml.findChannel(live)) return;
      if (!xml.hasVirtioSerial(live)) {
        if (!this.restartSaid.has(uuid)) {
          this.restartSaid.add(uuid);
          this.options.log.warn(
            `auto-setup: ${name} runs without a virtio-serial controller, which libvirt cannot hot-plug: it gets the channel ${CHANNEL_NAME} at its next start`,
          );
        }
        return;
      }
      await conn.attachDevice(uuid, xml.channelXml(), DeviceModifyFlags.LIVE);
      this.options.log.info(`auto-setup: ${name}: the channel ${CHANNEL_NAME} hot-plugged`);
    } catch (err) {
      const gone = err instanceof LibvirtError && err.is("NO_DOMAIN");
      if (gone) this.options.log.info(`auto-setup: ${name} is gone before it could be set up`);
      else this.options.log.warn(`auto-setup: ${name}: ${errorMessage(err)}`);
    }
  }
}
