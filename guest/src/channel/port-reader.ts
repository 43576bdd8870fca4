import { closeSync, constants, openSync, readSync } from "node:fs";
import { CHANNEL_MAX_LINE, errnoCode, errorMessage } from "@scaph/common";
import type { Logger } from "@scaph/common";

/** How long to wait before looking for the port, or opening it, again: a port hot-plugged back, or opened again after a migration, is read within this. */
const RETRY_MS = 500;

export interface PortReaderOptions {
  /** The port's device, found anew each time it is opened (it may be hot-plugged), or null while there is none. */
  port: () => string | null;
  log: Logger;
  /** How long to wait before looking for the port or opening it again. */
  retryMs?: number;
  /** How often an open port with nothing to read is read again. */
  pollMs?: number;
  /** Whether the reader alone keeps the process running (scaph-guest channel); beside an exporter's loop, it does not. */
  keepAlive?: boolean;
  /** Opens the port (non-blocking, read-only); the default is open(2). */
  openPort?: (path: string) => number;
}

/** What the reader tells: a port opened (a new stream), text read, a turn (after each read, or with nothing to read), the port closed. */
export interface PortEvents {
  opened(): void;
  text(chunk: string): void;
  turn(): void;
  closed(): void;
}

/**
 * Reads the channel's virtio-serial port until stopped: finds it (it may
 * appear later), reads it, opens it again when it ends (the host end not
 * connected reads as end of file). Non-blocking reads on this thread,
 * drained and then polled every pollMs: a read blocked in libuv's thread
 * pool could not be interrupted, and would even keep the process from
 * exiting. The event loop gets its turn after each read: a host (or a guest
 * process) that never stops writing cannot starve a signal, an exporter's
 * loop or its HTTP server.
 */
export class PortReader {
  /** Why the port could not be opened the last time, said once until it changes. */
  private lastOpenError: string | null = null;

  constructor(private readonly options: PortReaderOptions) {}

  async run(events: PortEvents, stopped: () => boolean): Promise<void> {
    const retry = this.options.retryMs ?? RETRY_MS;
    let said = false;
    while (!stopped()) {
      const port = this.options.port();
      if (!port) {
        if (!said) this.options.log.info("channel: no port yet (set up with scaph-host setup --transport channel, hot-plugged or at the next boot): waiting");
        said = true;
        await pause(retry, this.options.keepAlive);
        continue;
      }
      said = false;
      await this.read(port, events, stopped);
      if (!stopped()) await pause(retry, this.options.keepAlive); // the host end is not connected (EOF), or the port went away
    }
  }

  /** Reads the port until it ends or the reader stops. */
  private async read(port: string, events: PortEvents, stopped: () => boolean): Promise<void> {
    let fd: number;
    try {
      fd = (this.options.openPort ?? openPortRdonly)(port);
    } catch (err) {
      // Once per cause, not at every retry: a port another process holds (EBUSY) is tried again each second.
      const why = `${port}: ${errorMessage(err)}`;
      if (why !== this.lastOpenError) this.options.log.warn(`channel: ${why} (tried again every ${(this.options.retryMs ?? RETRY_MS) / 1000} s)`);
      this.lastOpenError = why;
      return;
    }
    if (this.lastOpenError !== null) this.options.log.info(`channel: ${port} open again`);
    this.lastOpenError = null;
    const buf = Buffer.alloc(CHANNEL_MAX_LINE);
    events.opened();
    try {
      while (!stopped()) {
        let n: number;
        try {
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (err) {
          if (errnoCode(err) === "EAGAIN") {
            events.turn();
            await pause(this.options.pollMs ?? 100, this.options.keepAlive);
            continue;
          }
          this.options.log.warn(`channel: ${port}: ${errorMessage(err)}`);
          return;
        }
        if (n === 0) return; // the host end is not connected
        events.text(buf.toString("utf8", 0, n));
        events.turn();
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      closeSync(fd);
      events.closed();
    }
  }
}

/** open(2) of the port, read-only and non-blocking. */
const openPortRdonly = (path: string): number => openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);

/** A pause that keeps the process running only if `keepAlive`. */
export const pause = (ms: number, keepAlive = true): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    if (!keepAlive) t.unref();
  });
