/**
 * libvirt's event loop and domain lifecycle events, bound with koffi
 * callbacks. Used by the events worker only: libvirt's default event loop
 * runs on the thread that calls virEventRunDefaultImpl, and the callbacks run
 * there too, synchronously.
 */
import { loadedLibvirt } from "./ffi.js";
import type { Ptr } from "./ffi.js";

/** virDomainEventID: the lifecycle event. */
export const DOMAIN_EVENT_ID_LIFECYCLE = 0;

export { DomainEventType } from "./flags.js";

export type LifecycleHandler = (dom: Ptr, event: number, detail: number) => void;
export type CloseHandler = (reason: number) => void;

/** A registered callback: an address for C, to unregister once done. */
export interface Registered {
  readonly ptr: unknown;
  unregister(): void;
}

export interface EventApi {
  virEventRegisterDefaultImpl(): number;
  virEventRunDefaultImpl(): number;
  virEventAddTimeout(ms: number, cb: unknown, opaque: null, ff: null): number;
  virEventRemoveTimeout(timer: number): number;
  virConnectDomainEventRegisterAny(conn: Ptr, dom: null, eventId: number, cb: unknown, opaque: null, ff: null): number;
  virConnectDomainEventDeregisterAny(conn: Ptr, callbackId: number): number;
  virConnectRegisterCloseCallback(conn: Ptr, cb: unknown, opaque: null, ff: null): number;
  virConnectUnregisterCloseCallback(conn: Ptr, cb: unknown): number;
  virConnectSetKeepAlive(conn: Ptr, intervalS: number, count: number): number;
  lifecycleCallback(f: LifecycleHandler): Registered;
  closeCallback(f: CloseHandler): Registered;
  timeoutCallback(f: () => void): Registered;
}

let api: EventApi | null = null;

export function eventApi(): EventApi {
  if (api) return api;
  const { koffi, lib } = loadedLibvirt();
  const Lifecycle = koffi.proto("int scaphLifecycleCb(void *conn, void *dom, int event, int detail, void *opaque)");
  const Close = koffi.proto("void scaphCloseCb(void *conn, int reason, void *opaque)");
  const Timeout = koffi.proto("void scaphTimeoutCb(int timer, void *opaque)");
  const fn = (proto: string): ((...a: unknown[]) => unknown) => lib.func(proto) as (...a: unknown[]) => unknown;
  const register = (f: (...a: never[]) => unknown, type: ReturnType<typeof koffi.proto>): Registered => {
    const ptr = koffi.register(f, koffi.pointer(type));
    return { ptr, unregister: () => koffi.unregister(ptr) };
  };
  api = {
    virEventRegisterDefaultImpl: fn("int virEventRegisterDefaultImpl(void)") as EventApi["virEventRegisterDefaultImpl"],
    virEventRunDefaultImpl: fn("int virEventRunDefaultImpl(void)") as EventApi["virEventRunDefaultImpl"],
    virEventAddTimeout: fn("int virEventAddTimeout(int timeout, scaphTimeoutCb *cb, void *opaque, void *ff)") as EventApi["virEventAddTimeout"],
    virEventRemoveTimeout: fn("int virEventRemoveTimeout(int timer)") as EventApi["virEventRemoveTimeout"],
    virConnectDomainEventRegisterAny: fn(
      "int virConnectDomainEventRegisterAny(void *conn, void *dom, int eventID, scaphLifecycleCb *cb, void *opaque, void *freecb)",
    ) as EventApi["virConnectDomainEventRegisterAny"],
    virConnectDomainEventDeregisterAny: fn(
      "int virConnectDomainEventDeregisterAny(void *conn, int callbackID)",
    ) as EventApi["virConnectDomainEventDeregisterAny"],
    virConnectRegisterCloseCallback: fn(
      "int virConnectRegisterCloseCallback(void *conn, scaphCloseCb *cb, void *opaque, void *freecb)",
    ) as EventApi["virConnectRegisterCloseCallback"],
    virConnectUnregisterCloseCallback: fn(
      "int virConnectUnregisterCloseCallback(void *conn, scaphCloseCb *cb)",
    ) as EventApi["virConnectUnregisterCloseCallback"],
    virConnectSetKeepAlive: fn("int virConnectSetKeepAlive(void *conn, int interval, unsigned int count)") as EventApi["virConnectSetKeepAlive"],
    lifecycleCallback: (f) =>
      register((_conn: Ptr, dom: Ptr, event: number, detail: number): number => {
        f(dom, event, detail);
        return 0;
      }, Lifecycle),
    closeCallback: (f) => register((_conn: Ptr, reason: number): void => f(reason), Close),
    timeoutCallback: (f) => register((): void => f(), Timeout),
  };
  return api;
}
