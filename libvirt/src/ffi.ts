import { createRequire } from "node:module";
import type KoffiModule from "koffi";
import { LibvirtUnavailableError } from "./errors.js";

type Koffi = typeof KoffiModule;
/** koffi is loaded with libvirt.so.0, on first use: a command that never talks to libvirt never loads either. */
const requireKoffi = (): Koffi => createRequire(import.meta.url)("koffi") as Koffi;

/** Opaque libvirt handles are raw addresses (koffi 3 pointers are BigInt). */
export type Ptr = bigint;

/** The C structure virError, as virGetLastError returns it. */
const VIR_ERROR = {
  code: "int",
  domain: "int",
  message: "const char *",
  level: "int",
  conn: "void *",
  dom: "void *",
  str1: "const char *",
  str2: "const char *",
  str3: "const char *",
  int1: "int",
  int2: "int",
  net: "void *",
};

export interface RawError {
  code: number;
  domain: number;
  message: string | null;
  level: number;
  /** For SYSTEM_ERROR, the errno (libvirt's virReportSystemError puts it in int1). */
  int1: number;
}

/** The libvirt functions scaph uses, typed. Strings returned with `!` are freed by koffi. */
export interface LibvirtApi {
  virGetVersion(libVer: [number | bigint | null], type: string | null, typeVer: [number | bigint | null]): number;
  virConnectOpen(uri: string | null): Ptr | null;
  virConnectOpenReadOnly(uri: string | null): Ptr | null;
  virConnectClose(conn: Ptr): number;
  virConnectGetLibVersion(conn: Ptr, out: [number | bigint | null]): number;
  virConnectGetType(conn: Ptr): string | null;
  virConnectGetURI(conn: Ptr): string | null;
  virConnectIsAlive(conn: Ptr): number;
  virConnectListAllDomains(conn: Ptr, out: [Ptr | null], flags: number): number;
  virDomainLookupByName(conn: Ptr, name: string): Ptr | null;
  virDomainLookupByUUIDString(conn: Ptr, uuid: string): Ptr | null;
  virDomainDefineXML(conn: Ptr, xml: string): Ptr | null;
  virDomainUndefine(dom: Ptr): number;
  virDomainCreate(dom: Ptr): number;
  virDomainDestroy(dom: Ptr): number;
  virDomainGetName(dom: Ptr): string | null;
  virDomainGetUUIDString(dom: Ptr, buf: Buffer): number;
  virDomainGetID(dom: Ptr): number;
  virDomainIsActive(dom: Ptr): number;
  virDomainIsPersistent(dom: Ptr): number;
  virDomainGetState(dom: Ptr, state: [number | null], reason: [number | null], flags: number): number;
  virDomainGetXMLDesc(dom: Ptr, flags: number): string | null;
  virDomainAttachDeviceFlags(dom: Ptr, xml: string, flags: number): number;
  virDomainDetachDeviceFlags(dom: Ptr, xml: string, flags: number): number;
  virDomainUpdateDeviceFlags(dom: Ptr, xml: string, flags: number): number;
  virDomainFree(dom: Ptr): number;
  virResetLastError(): void;
  /** Reads the calling thread's last error; call it right after the failing call. */
  lastError(): RawError | null;
  /** Frees memory libvirt allocated with malloc (arrays it returns). */
  free(p: Ptr): void;
  /** Reads `count` pointers from a C array. */
  readPointers(array: Ptr, count: number): Ptr[];
}

const PROTOTYPES = [
  "int virGetVersion(_Out_ unsigned long *libVer, const char *type, _Out_ unsigned long *typeVer)",
  "void *virConnectOpen(const char *name)",
  "void *virConnectOpenReadOnly(const char *name)",
  "int virConnectClose(void *conn)",
  "int virConnectGetLibVersion(void *conn, _Out_ unsigned long *libVer)",
  "const char *virConnectGetType(void *conn)",
  "char *! virConnectGetURI(void *conn)",
  "int virConnectIsAlive(void *conn)",
  "int virConnectListAllDomains(void *conn, _Out_ void **domains, unsigned int flags)",
  "void *virDomainLookupByName(void *conn, const char *name)",
  "void *virDomainLookupByUUIDString(void *conn, const char *uuid)",
  "void *virDomainDefineXML(void *conn, const char *xml)",
  "int virDomainUndefine(void *dom)",
  "int virDomainCreate(void *dom)",
  "int virDomainDestroy(void *dom)",
  "const char *virDomainGetName(void *dom)",
  "int virDomainGetUUIDString(void *dom, _Out_ uint8_t *buf)",
  "unsigned int virDomainGetID(void *dom)",
  "int virDomainIsActive(void *dom)",
  "int virDomainIsPersistent(void *dom)",
  "int virDomainGetState(void *dom, _Out_ int *state, _Out_ int *reason, unsigned int flags)",
  "char *! virDomainGetXMLDesc(void *dom, unsigned int flags)",
  "int virDomainAttachDeviceFlags(void *dom, const char *xml, unsigned int flags)",
  "int virDomainDetachDeviceFlags(void *dom, const char *xml, unsigned int flags)",
  "int virDomainUpdateDeviceFlags(void *dom, const char *xml, unsigned int flags)",
  "int virDomainFree(void *dom)",
  "void virResetLastError(void)",
] as const;

/** Where to look for the library; SCAPH_LIBVIRT_SO overrides (tests, odd installs). */
export function libraryName(): string {
  return process.env.SCAPH_LIBVIRT_SO ?? "libvirt.so.0";
}

let api: LibvirtApi | null = null;
let loadedLib: { koffi: Koffi; lib: ReturnType<Koffi["load"]> } | null = null;
let virErrorType: ReturnType<Koffi["struct"]> | null = null;

/**
 * Loads libvirt.so.0 on first use, so the rest of scaph works on machines
 * without libvirt. Installs a C-level no-op error handler so that libvirt
 * prints nothing on stderr: `free(NULL)` is called as handler(NULL, err).
 */
export function libvirt(): LibvirtApi {
  if (api) return api;
  const koffi = requireKoffi();
  // Declared once per process (koffi refuses a type name twice), though loading the library may fail and be retried.
  virErrorType ??= koffi.struct("virError", VIR_ERROR);
  const VirError = virErrorType;
  let lib: ReturnType<typeof koffi.load>;
  let libc: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(libraryName());
    libc = koffi.load("libc.so.6");
  } catch (err) {
    throw LibvirtUnavailableError.forLibrary(libraryName(), err);
  }
  const fns: Record<string, (...args: unknown[]) => unknown> = {};
  for (const proto of PROTOTYPES) {
    const f = lib.func(proto);
    fns[f.info.name] = f as (...args: unknown[]) => unknown;
  }
  loadedLib = { koffi, lib };
  const virSetErrorFunc = lib.func("void virSetErrorFunc(void *userData, void *handler)");
  const virGetLastError = lib.func("void *virGetLastError(void)");
  const cfree = libc.func("void free(void *ptr)");
  virSetErrorFunc(null, libc.symbol("free"));
  api = {
    ...(fns as unknown as LibvirtApi),
    lastError(): RawError | null {
      const p = virGetLastError() as Ptr | null;
      if (p === null || p === 0n) return null;
      const e = koffi.decode(p, VirError) as RawError;
      return { code: e.code, domain: e.domain, message: e.message, level: e.level, int1: e.int1 };
    },
    free(p: Ptr): void {
      cfree(p);
    },
    readPointers(array: Ptr, count: number): Ptr[] {
      if (count <= 0) return [];
      return (koffi.decode(array, "void *", count) as (Ptr | null)[]).map((p) => p ?? 0n);
    },
  };
  return api;
}

/** koffi and the loaded libvirt.so.0 (loading them first), for bindings beyond LibvirtApi (events). */
export function loadedLibvirt(): { koffi: Koffi; lib: ReturnType<Koffi["load"]> } {
  libvirt();
  if (!loadedLib) throw new Error("libvirt not loaded");
  return loadedLib;
}
