/**
 * libvirt errors, typed. Codes and domains are libvirt's virErrorNumber and
 * virErrorDomain (virterror.h, libvirt 9.0).
 */

export const ErrorCode = {
  OK: 0,
  INTERNAL_ERROR: 1,
  NO_MEMORY: 2,
  NO_SUPPORT: 3,
  UNKNOWN_HOST: 4,
  NO_CONNECT: 5,
  INVALID_CONN: 6,
  INVALID_DOMAIN: 7,
  INVALID_ARG: 8,
  OPERATION_FAILED: 9,
  GET_FAILED: 10,
  POST_FAILED: 11,
  HTTP_ERROR: 12,
  SEXPR_SERIAL: 13,
  NO_XEN: 14,
  XEN_CALL: 15,
  OS_TYPE: 16,
  NO_KERNEL: 17,
  NO_ROOT: 18,
  NO_SOURCE: 19,
  NO_TARGET: 20,
  NO_NAME: 21,
  NO_OS: 22,
  NO_DEVICE: 23,
  NO_XENSTORE: 24,
  DRIVER_FULL: 25,
  CALL_FAILED: 26,
  XML_ERROR: 27,
  DOM_EXIST: 28,
  OPERATION_DENIED: 29,
  OPEN_FAILED: 30,
  READ_FAILED: 31,
  PARSE_FAILED: 32,
  CONF_SYNTAX: 33,
  WRITE_FAILED: 34,
  XML_DETAIL: 35,
  INVALID_NETWORK: 36,
  NETWORK_EXIST: 37,
  SYSTEM_ERROR: 38,
  RPC: 39,
  GNUTLS_ERROR: 40,
  NO_DOMAIN: 42,
  NO_NETWORK: 43,
  INVALID_MAC: 44,
  AUTH_FAILED: 45,
  INVALID_STORAGE_POOL: 46,
  INVALID_STORAGE_VOL: 47,
  NO_STORAGE_POOL: 49,
  NO_STORAGE_VOL: 50,
  INVALID_NODE_DEVICE: 52,
  NO_NODE_DEVICE: 53,
  NO_SECURITY_MODEL: 54,
  OPERATION_INVALID: 55,
  NO_INTERFACE: 57,
  INVALID_INTERFACE: 58,
  MULTIPLE_INTERFACES: 59,
  INVALID_NWFILTER: 61,
  NO_NWFILTER: 62,
  BUILD_FIREWALL: 63,
  INVALID_SECRET: 65,
  NO_SECRET: 66,
  CONFIG_UNSUPPORTED: 67,
  OPERATION_TIMEOUT: 68,
  MIGRATE_PERSIST_FAILED: 69,
  HOOK_SCRIPT_FAILED: 70,
  INVALID_DOMAIN_SNAPSHOT: 71,
  NO_DOMAIN_SNAPSHOT: 72,
  INVALID_STREAM: 73,
  ARGUMENT_UNSUPPORTED: 74,
  STORAGE_PROBE_FAILED: 75,
  STORAGE_POOL_BUILT: 76,
  SNAPSHOT_REVERT_RISKY: 77,
  OPERATION_ABORTED: 78,
  AUTH_CANCELLED: 79,
  NO_DOMAIN_METADATA: 80,
  MIGRATE_UNSAFE: 81,
  OVERFLOW: 82,
  BLOCK_COPY_ACTIVE: 83,
  OPERATION_UNSUPPORTED: 84,
  SSH: 85,
  AGENT_UNRESPONSIVE: 86,
  RESOURCE_BUSY: 87,
  ACCESS_DENIED: 88,
  DBUS_SERVICE: 89,
  STORAGE_VOL_EXIST: 90,
  CPU_INCOMPATIBLE: 91,
  XML_INVALID_SCHEMA: 92,
  MIGRATE_FINISH_OK: 93,
  AUTH_UNAVAILABLE: 94,
  NO_SERVER: 95,
  NO_CLIENT: 96,
  AGENT_UNSYNCED: 97,
  LIBSSH: 98,
  DEVICE_MISSING: 99,
  INVALID_NWFILTER_BINDING: 100,
  NO_NWFILTER_BINDING: 101,
  INVALID_DOMAIN_CHECKPOINT: 102,
  NO_DOMAIN_CHECKPOINT: 103,
  NO_DOMAIN_BACKUP: 104,
  INVALID_NETWORK_PORT: 105,
  NETWORK_PORT_EXIST: 106,
  NO_NETWORK_PORT: 107,
  NO_HOSTNAME: 108,
  CHECKPOINT_INCONSISTENT: 109,
  MULTIPLE_DOMAINS: 110,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;

export const ErrorDomain = {
  NONE: 0,
  XEN: 1,
  XEND: 2,
  XENSTORE: 3,
  SEXPR: 4,
  XML: 5,
  DOM: 6,
  RPC: 7,
  PROXY: 8,
  CONF: 9,
  QEMU: 10,
  NET: 11,
  TEST: 12,
  REMOTE: 13,
  OPENVZ: 14,
  XENXM: 15,
  STATS_LINUX: 16,
  LXC: 17,
  STORAGE: 18,
  NETWORK: 19,
  DOMAIN: 20,
  UML: 21,
  NODEDEV: 22,
  XEN_INOTIFY: 23,
  SECURITY: 24,
  VBOX: 25,
  INTERFACE: 26,
  ONE: 27,
  ESX: 28,
  PHYP: 29,
  SECRET: 30,
  CPU: 31,
  XENAPI: 32,
  NWFILTER: 33,
  HOOK: 34,
  DOMAIN_SNAPSHOT: 35,
  AUDIT: 36,
  SYSINFO: 37,
  STREAMS: 38,
  VMWARE: 39,
  EVENT: 40,
  LIBXL: 41,
  LOCKING: 42,
  HYPERV: 43,
  CAPABILITIES: 44,
  URI: 45,
  AUTH: 46,
  DBUS: 47,
  PARALLELS: 48,
  DEVICE: 49,
  SSH: 50,
  LOCKSPACE: 51,
  INITCTL: 52,
  IDENTITY: 53,
  CGROUP: 54,
  ACCESS: 55,
  SYSTEMD: 56,
  BHYVE: 57,
  CRYPTO: 58,
  FIREWALL: 59,
  POLKIT: 60,
  THREAD: 61,
  ADMIN: 62,
  LOGGING: 63,
  XENXL: 64,
  PERF: 65,
  LIBSSH: 66,
  RESCTRL: 67,
  FIREWALLD: 68,
  DOMAIN_CHECKPOINT: 69,
  TPM: 70,
  BPF: 71,
  CH: 72,
} as const;

export type ErrorDomainName = keyof typeof ErrorDomain;

/** virErrorLevel */
export const ErrorLevel = { NONE: 0, WARNING: 1, ERROR: 2 } as const;

function nameOf<T extends Record<string, number>>(table: T, value: number): string {
  for (const [k, v] of Object.entries(table)) if (v === value) return k;
  return `UNKNOWN_${value}`;
}

/** A failed libvirt call, with the error libvirt recorded for it on the calling thread. */
export class LibvirtError extends Error {
  /** virErrorNumber, e.g. 42 (ErrorCode.NO_DOMAIN). */
  readonly code: number;
  /** virErrorDomain: the part of libvirt that raised it. */
  readonly domain: number;
  readonly level: number;
  /** The call that failed, e.g. `virDomainLookupByName`. */
  readonly call: string;
  /** For SYSTEM_ERROR: the errno of the system call that failed (13, EACCES, for a socket it may not open). */
  readonly errno: number | undefined;

  constructor(fields: { code: number; domain: number; level: number; message: string; call: string; errno?: number }) {
    super(fields.message);
    this.name = "LibvirtError";
    this.code = fields.code;
    this.domain = fields.domain;
    this.level = fields.level;
    this.call = fields.call;
    this.errno = fields.errno;
  }

  /**
   * Whether libvirt refused for lack of permission: its authentication or
   * access control (polkit, ACLs), an error of the parts that check them
   * (auth, polkit, and the D-Bus that polkit is asked over: an unprivileged
   * caller of qemu:///system where D-Bus is down), or a socket the caller
   * may not open.
   */
  get denied(): boolean {
    return (
      this.domain === ErrorDomain.AUTH ||
      this.domain === ErrorDomain.POLKIT ||
      this.domain === ErrorDomain.DBUS ||
      this.is("AUTH_FAILED") ||
      this.is("AUTH_UNAVAILABLE") ||
      this.is("AUTH_CANCELLED") ||
      this.is("ACCESS_DENIED") ||
      this.is("OPERATION_DENIED") ||
      (this.is("SYSTEM_ERROR") && (this.errno === 13 || this.errno === 1))
    );
  }

  /** The code's name, e.g. `NO_DOMAIN`. */
  get codeName(): string {
    return nameOf(ErrorCode, this.code);
  }

  get domainName(): string {
    return nameOf(ErrorDomain, this.domain);
  }

  /** Whether this error has the given code name. */
  is(code: ErrorCodeName): boolean {
    return this.code === ErrorCode[code];
  }
}

/** libvirt.so.0 could not be loaded. */
export class LibvirtUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LibvirtUnavailableError";
  }

  static forLibrary(library: string, cause: unknown): LibvirtUnavailableError {
    return new LibvirtUnavailableError(
      `Cannot load ${library}: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        `Install libvirt's client library: Debian/Ubuntu "apt-get install libvirt0", ` +
        `RHEL/Fedora "dnf install libvirt-libs".`,
      { cause },
    );
  }
}

/** A call that did not return within its timeout (a hung libvirtd). */
export class LibvirtTimeoutError extends Error {
  constructor(
    readonly call: string,
    readonly timeoutMs: number,
  ) {
    super(`libvirt call ${call} did not return within ${timeoutMs} ms (is libvirtd hung?)`);
    this.name = "LibvirtTimeoutError";
  }
}
