import { ErrorCode, ErrorLevel, LibvirtError } from "./errors.js";
import { libvirt } from "./ffi.js";
import type { Ptr } from "./ffi.js";
import { Domain } from "./domain.js";
import { decodeVersion, failure, handle, listAllDomains, status, text } from "./raw.js";

export interface Version {
  major: number;
  minor: number;
  release: number;
  /** major × 1,000,000 + minor × 1,000 + release, as libvirt encodes it. */
  number: number;
}

/** Version of the loaded libvirt library (no connection needed). */
export function libVersion(): Version {
  const lib: [number | bigint | null] = [null];
  const typ: [number | bigint | null] = [null];
  status("virGetVersion", libvirt().virGetVersion(lib, null, typ));
  return decodeVersion(lib[0]);
}

/** A connection to a hypervisor through libvirt. Close it with close() or `using`. */
export class Connection implements Disposable {
  #ptr: Ptr | null;
  readonly uri: string;

  private constructor(ptr: Ptr, uri: string) {
    this.#ptr = ptr;
    this.uri = uri;
  }

  /** Opens a read-write connection, e.g. `qemu:///system`, `test:///default`. */
  static open(uri: string): Connection {
    return new Connection(handle("virConnectOpen", libvirt().virConnectOpen(uri)), uri);
  }

  /** Opens a read-only connection (enough to list domains and read XML). */
  static openReadOnly(uri: string): Connection {
    return new Connection(handle("virConnectOpenReadOnly", libvirt().virConnectOpenReadOnly(uri)), uri);
  }

  get ptr(): Ptr {
    if (this.#ptr === null) {
      throw new LibvirtError({ code: ErrorCode.INVALID_CONN, domain: 0, level: ErrorLevel.ERROR, message: "connection is closed", call: "Connection" });
    }
    return this.#ptr;
  }

  get closed(): boolean {
    return this.#ptr === null;
  }

  /** Version of libvirt on the other end (libvirtd's, for remote URIs). */
  libVersion(): Version {
    const out: [number | bigint | null] = [null];
    status("virConnectGetLibVersion", libvirt().virConnectGetLibVersion(this.ptr, out));
    return decodeVersion(out[0]);
  }

  /** Hypervisor driver name, e.g. `QEMU`, `TEST`. */
  hypervisorType(): string {
    return text("virConnectGetType", libvirt().virConnectGetType(this.ptr));
  }

  /** The canonical URI of the connection. */
  canonicalUri(): string {
    return text("virConnectGetURI", libvirt().virConnectGetURI(this.ptr));
  }

  isAlive(): boolean {
    if (this.#ptr === null) return false;
    return libvirt().virConnectIsAlive(this.#ptr) === 1;
  }

  /** Every domain matching ListDomainsFlags (0 = all); free each, or use `using`. */
  listAllDomains(flags = 0): Domain[] {
    return listAllDomains(this.ptr, flags).map((p) => new Domain(p));
  }

  lookupByName(name: string): Domain {
    return new Domain(handle("virDomainLookupByName", libvirt().virDomainLookupByName(this.ptr, name)));
  }

  lookupByUUID(uuid: string): Domain {
    return new Domain(handle("virDomainLookupByUUIDString", libvirt().virDomainLookupByUUIDString(this.ptr, uuid)));
  }

  /** Defines (or redefines) a persistent domain from XML. */
  defineXML(xml: string): Domain {
    return new Domain(handle("virDomainDefineXML", libvirt().virDomainDefineXML(this.ptr, xml)));
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#ptr === null) return;
    const p = this.#ptr;
    this.#ptr = null;
    if (libvirt().virConnectClose(p) < 0) throw failure("virConnectClose");
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
