import { LibvirtError } from "./errors.js";
import { libvirt } from "./ffi.js";
import type { Ptr } from "./ffi.js";

/**
 * Builds a LibvirtError from the calling thread's last libvirt error. Must be
 * called right after the failing call, on the same thread (libvirt's last
 * error is thread-local).
 */
export function failure(call: string): LibvirtError {
  const e = libvirt().lastError();
  return new LibvirtError({
    code: e?.code ?? -1,
    domain: e?.domain ?? 0,
    level: e?.level ?? 2,
    message: e?.message ?? `${call} failed (libvirt recorded no error)`,
    call,
    ...(e && e.code === 38 && e.int1 > 0 ? { errno: e.int1 } : {}),
  });
}

/** A call returning a handle: NULL is an error. */
export function handle(call: string, p: Ptr | null): Ptr {
  if (p === null || p === 0n) throw failure(call);
  return p;
}

/** A call returning an int status: -1 is an error. */
export function status(call: string, rc: number): number {
  if (rc < 0) throw failure(call);
  return rc;
}

/** A call returning a string: NULL is an error. */
export function text(call: string, s: string | null): string {
  if (s === null) throw failure(call);
  return s;
}

export interface RawDomainInfo {
  name: string;
  uuid: string;
  /** Hypervisor id of a running domain, null when inactive. */
  id: number | null;
  active: boolean;
  state: number;
  reason: number;
}

/** Plain facts about a domain handle (several calls; each failure is thrown). */
export function domainInfo(dom: Ptr): RawDomainInfo {
  const v = libvirt();
  const name = text("virDomainGetName", v.virDomainGetName(dom));
  const buf = Buffer.alloc(37);
  status("virDomainGetUUIDString", v.virDomainGetUUIDString(dom, buf));
  const uuid = uuidText(buf);
  const id = v.virDomainGetID(dom);
  const active = status("virDomainIsActive", v.virDomainIsActive(dom)) === 1;
  const st: [number | null] = [null];
  const reason: [number | null] = [null];
  status("virDomainGetState", v.virDomainGetState(dom, st, reason, 0));
  return { name, uuid, id: id === 0xffffffff ? null : id, active, state: st[0] ?? 0, reason: reason[0] ?? 0 };
}

/** Lists domains; the caller owns every returned handle. The C array is freed here. */
export function listAllDomains(conn: Ptr, flags: number): Ptr[] {
  const v = libvirt();
  const out: [Ptr | null] = [null];
  const n = status("virConnectListAllDomains", v.virConnectListAllDomains(conn, out, flags));
  const array = out[0];
  if (array === null || array === 0n) return [];
  try {
    return v.readPointers(array, n);
  } finally {
    v.free(array);
  }
}

/** Decodes libvirt's version number (major × 1e6 + minor × 1e3 + release). */
export function decodeVersion(n: number | bigint | null): { major: number; minor: number; release: number; number: number } {
  const num = Number(n ?? 0);
  return { major: Math.floor(num / 1e6), minor: Math.floor((num % 1e6) / 1e3), release: num % 1e3, number: num };
}

/**
 * A UUID string as libvirt's virDomainGetUUIDString writes it into `buf`, in
 * lower case: every UUID @scaph/libvirt returns (handles, lists, events) is
 * lower case, so its users compare them as they are.
 */
export function uuidText(buf: Buffer): string {
  return buf.toString("latin1", 0, 36).toLowerCase();
}
