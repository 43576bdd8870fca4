import { ErrorCode, ErrorLevel, LibvirtError } from "./errors.js";
import { libvirt } from "./ffi.js";
import type { Ptr } from "./ffi.js";
import { domainStateName } from "./flags.js";
import type { DomainStateName } from "./flags.js";
import { domainInfo, failure, status, text } from "./raw.js";
import type { RawDomainInfo } from "./raw.js";

/** Frees handles that were dropped without free(): a backstop, not the plan. */
const backstop = new FinalizationRegistry<Ptr>((p) => {
  libvirt().virDomainFree(p);
});

/** A libvirt domain handle. Free it with free() or `using`. */
export class Domain implements Disposable {
  #ptr: Ptr | null;

  /** Takes ownership of a domain handle. */
  constructor(ptr: Ptr) {
    this.#ptr = ptr;
    backstop.register(this, ptr, this);
  }

  /** The raw handle; throws once freed. */
  get ptr(): Ptr {
    if (this.#ptr === null) {
      throw new LibvirtError({ code: ErrorCode.INVALID_DOMAIN, domain: 0, level: ErrorLevel.ERROR, message: "domain handle already freed", call: "Domain" });
    }
    return this.#ptr;
  }

  get freed(): boolean {
    return this.#ptr === null;
  }

  get name(): string {
    return text("virDomainGetName", libvirt().virDomainGetName(this.ptr));
  }

  get uuid(): string {
    return domainInfo(this.ptr).uuid;
  }

  /** Hypervisor id while running, null when inactive. */
  get id(): number | null {
    const id = libvirt().virDomainGetID(this.ptr);
    return id === 0xffffffff ? null : id;
  }

  get isActive(): boolean {
    return status("virDomainIsActive", libvirt().virDomainIsActive(this.ptr)) === 1;
  }

  /** Whether it has a persistent definition (a transient domain, `virsh create`, has none). */
  get isPersistent(): boolean {
    return status("virDomainIsPersistent", libvirt().virDomainIsPersistent(this.ptr)) === 1;
  }

  /** State and reason (virDomainState, a per-state reason number). */
  get state(): { state: DomainStateName | "UNKNOWN"; code: number; reason: number } {
    const i = domainInfo(this.ptr);
    return { state: domainStateName(i.state), code: i.state, reason: i.reason };
  }

  /** Name, UUID, id, state in one go. */
  info() {
    return domainInfo(this.ptr);
  }

  /** The domain XML; flags from DomainXMLFlags (INACTIVE for the persistent config, SECURE). */
  xml(flags = 0): string {
    const s = libvirt().virDomainGetXMLDesc(this.ptr, flags);
    if (s === null) throw failure("virDomainGetXMLDesc");
    return s;
  }

  /** Attaches a device; flags from DeviceModifyFlags (LIVE, CONFIG). */
  attachDevice(xml: string, flags = 0): void {
    status("virDomainAttachDeviceFlags", libvirt().virDomainAttachDeviceFlags(this.ptr, xml, flags));
  }

  detachDevice(xml: string, flags = 0): void {
    status("virDomainDetachDeviceFlags", libvirt().virDomainDetachDeviceFlags(this.ptr, xml, flags));
  }

  updateDevice(xml: string, flags = 0): void {
    status("virDomainUpdateDeviceFlags", libvirt().virDomainUpdateDeviceFlags(this.ptr, xml, flags));
  }

  /** Starts a defined domain. */
  create(): void {
    status("virDomainCreate", libvirt().virDomainCreate(this.ptr));
  }

  /** Stops a running domain at once (power cut). */
  destroy(): void {
    status("virDomainDestroy", libvirt().virDomainDestroy(this.ptr));
  }

  /** Removes the persistent config. */
  undefine(): void {
    status("virDomainUndefine", libvirt().virDomainUndefine(this.ptr));
  }

  /** Releases the handle (idempotent). */
  free(): void {
    if (this.#ptr === null) return;
    backstop.unregister(this);
    libvirt().virDomainFree(this.#ptr);
    this.#ptr = null;
  }

  [Symbol.dispose](): void {
    this.free();
  }
}

/**
 * The facts of each listed domain that is still there. A domain can go
 * between the list and the reading of its facts (an incoming migration
 * aborted, a transient domain destroyed): libvirt then answers NO_DOMAIN
 * for it, and it is left out, as a list made a moment later would. Any
 * other failure is thrown.
 */
export function infosOf(domains: readonly Domain[]): RawDomainInfo[] {
  const out: RawDomainInfo[] = [];
  for (const d of domains) {
    try {
      out.push(d.info());
    } catch (err) {
      if (!(err instanceof LibvirtError && err.is("NO_DOMAIN"))) throw err;
    }
  }
  return out;
}
