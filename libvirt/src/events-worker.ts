/**
 * Worker thread for DomainEvents: runs libvirt's default event loop, with a
 * connection subscribed to domain lifecycle events, and posts each event to
 * the main thread as plain data. libvirt is never called from inside a
 * callback: events are queued there and posted after each loop iteration. A
 * connection that closes (libvirtd restarted) is opened again.
 */
import { uuidText } from "./raw.js";
import { parentPort, workerData } from "node:worker_threads";
import { Connection } from "./connection.js";
import { DOMAIN_EVENT_ID_LIFECYCLE, eventApi } from "./ffi-events.js";
import type { Registered } from "./ffi-events.js";
import { libvirt } from "./ffi.js";
import type { Ptr } from "./ffi.js";
import { failure, status } from "./raw.js";
import type { EventsMessage } from "./events.js";

const { uri, retryMs } = workerData as { uri: string; retryMs: number };
let stopping = false;
parentPort?.on("message", (m: { op: string }) => {
  if (m.op === "stop") stopping = true;
});
const post = (m: EventsMessage): void => parentPort?.postMessage(m);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const lv = libvirt();
const ev = eventApi();
const queue: EventsMessage[] = [];
let closedReason: number | null = null;
/** The reason the connection closed, if it did (read through a call: a callback sets it, which the loop cannot see narrowed). */
const closedNow = (): number | null => closedReason;

/** The domain's UUID and name: local reads of the handle libvirt passes, no RPC (safe in a callback). */
function identify(dom: Ptr): { uuid: string; name: string } {
  const buf = Buffer.alloc(37);
  lv.virDomainGetUUIDString(dom, buf);
  return { uuid: uuidText(buf), name: lv.virDomainGetName(dom) ?? "" };
}

async function run(): Promise<void> {
  status("virEventRegisterDefaultImpl", ev.virEventRegisterDefaultImpl());
  const callbacks: Registered[] = [
    ev.lifecycleCallback((dom, event, detail) => queue.push({ kind: "lifecycle", ...identify(dom), event, detail })),
    ev.closeCallback((reason) => {
      closedReason = reason;
    }),
    ev.timeoutCallback(() => {}), // wakes the loop twice a second, so that a stop is seen
  ];
  const [lifecycle, onClose, tick] = callbacks as [Registered, Registered, Registered];
  status("virEventAddTimeout", ev.virEventAddTimeout(500, tick.ptr, null, null));
  while (!stopping) {
    let conn: Connection | null = null;
    let callbackId = -1;
    try {
      conn = Connection.openReadOnly(uri); // events come to read-only connections too
      callbackId = ev.virConnectDomainEventRegisterAny(conn.ptr, null, DOMAIN_EVENT_ID_LIFECYCLE, lifecycle.ptr, null, null);
      if (callbackId < 0) throw failure("virConnectDomainEventRegisterAny");
      status("virConnectRegisterCloseCallback", ev.virConnectRegisterCloseCallback(conn.ptr, onClose.ptr, null, null));
      ev.virConnectSetKeepAlive(conn.ptr, 5, 3); // a libvirtd that dies is noticed within ~20 s (remote URIs only)
      closedReason = null;
      post({ kind: "connected" });
      while (!stopping && closedNow() === null) {
        if (ev.virEventRunDefaultImpl() < 0) throw failure("virEventRunDefaultImpl");
        for (const m of queue.splice(0)) post(m);
        await new Promise((r) => setImmediate(r)); // lets the stop message in
      }
      const reason = closedNow();
      if (reason !== null) post({ kind: "disconnected", message: `connection closed (reason ${reason})` });
    } catch (err) {
      post({ kind: "disconnected", message: errorText(err) });
    } finally {
      if (conn && !conn.closed) {
        if (callbackId >= 0) ev.virConnectDomainEventDeregisterAny(conn.ptr, callbackId);
        ev.virConnectUnregisterCloseCallback(conn.ptr, onClose.ptr);
        try {
          conn.close();
        } catch {
          // a dead connection closes with an error: it is closed all the same
        }
      }
    }
    for (let waited = 0; !stopping && waited < retryMs; waited += 100) await sleep(100);
  }
  post({ kind: "stopped" });
}

run().catch((err: unknown) => post({ kind: "disconnected", message: `events worker failed: ${errorText(err)}` }));
