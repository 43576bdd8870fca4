import { Worker } from "node:worker_threads";
import { DomainEventType } from "./ffi-events.js";

/** A domain lifecycle event (virDomainEventType, with its detail). */
export interface LifecycleEvent {
  uuid: string;
  name: string;
  event: number;
  detail: number;
}

/** What the events worker posts. */
export type EventsMessage = ({ kind: "lifecycle" } & LifecycleEvent) | { kind: "connected" } | { kind: "disconnected"; message: string } | { kind: "stopped" };

export interface DomainEventsHandlers {
  onEvent(e: LifecycleEvent): void;
  /** Subscribed (again, after a reconnection). */
  onConnected?(): void;
  /** The connection failed or closed; it is tried again every `retryMs`. */
  onDisconnected?(message: string): void;
}

export { DomainEventType };

/** The name of a virDomainEventType (`STARTED`...), or `EVENT_n`. */
export function domainEventName(event: number): string {
  for (const [k, v] of Object.entries(DomainEventType)) if (v === event) return k;
  return `EVENT_${event}`;
}

/**
 * libvirt's domain lifecycle events (defined, started, stopped...), from a
 * worker thread that runs libvirt's event loop on a connection of its own, so
 * that neither the loop nor a hung libvirtd ever blocks the caller. Events
 * arrive as plain data; a lost connection is opened again.
 */
export class DomainEvents {
  private readonly worker: Worker;
  private stopped: Promise<void>;

  private constructor(uri: string, handlers: DomainEventsHandlers, retryMs: number) {
    this.worker = new Worker(new URL("./events-worker.js", import.meta.url), { workerData: { uri, retryMs } });
    this.worker.on("message", (m: EventsMessage) => {
      if (m.kind === "lifecycle") handlers.onEvent({ uuid: m.uuid, name: m.name, event: m.event, detail: m.detail });
      else if (m.kind === "connected") handlers.onConnected?.();
      else if (m.kind === "disconnected") handlers.onDisconnected?.(m.message);
    });
    this.worker.on("error", (err) => handlers.onDisconnected?.(`events worker: ${err.message}`));
    this.stopped = new Promise((resolve) => this.worker.once("exit", () => resolve()));
  }

  /** Subscribes to `uri`'s lifecycle events. */
  static start(uri: string, handlers: DomainEventsHandlers, retryMs = 2000): DomainEvents {
    return new DomainEvents(uri, handlers, retryMs);
  }

  /** Stops the loop (within about half a second) and ends the worker. */
  async close(): Promise<void> {
    this.worker.postMessage({ op: "stop" });
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    this.worker.once("message", (m: EventsMessage) => {
      if (m.kind === "stopped") void this.worker.terminate();
    });
    await this.stopped;
    clearTimeout(timer);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
