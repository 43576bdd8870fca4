/** libvirt flag enums scaph uses, with libvirt's names (libvirt-domain.h). */

/** virConnectListAllDomainsFlags */
export const ListDomainsFlags = {
  ALL: 0,
  ACTIVE: 1 << 0,
  INACTIVE: 1 << 1,
  PERSISTENT: 1 << 2,
  TRANSIENT: 1 << 3,
  RUNNING: 1 << 4,
  PAUSED: 1 << 5,
  SHUTOFF: 1 << 6,
  OTHER: 1 << 7,
} as const;

/** virDomainXMLFlags */
export const DomainXMLFlags = {
  /** The current XML: live for a running domain, persistent otherwise. */
  CURRENT: 0,
  /** Include security-sensitive information (passwords). */
  SECURE: 1 << 0,
  /** The persistent (next boot) XML of a running domain. */
  INACTIVE: 1 << 1,
  UPDATE_CPU: 1 << 2,
  MIGRATABLE: 1 << 3,
} as const;

/** virDomainModificationImpact, for attach/detach/update device. */
export const DeviceModifyFlags = {
  /** Live if running, else persistent config. */
  CURRENT: 0,
  /** The running domain. */
  LIVE: 1 << 0,
  /** The persistent config. */
  CONFIG: 1 << 1,
  /** virDomainDeviceModifyFlags: force (update only). */
  FORCE: 1 << 2,
} as const;

/** virDomainState */
export const DomainState = {
  NOSTATE: 0,
  RUNNING: 1,
  BLOCKED: 2,
  PAUSED: 3,
  SHUTDOWN: 4,
  SHUTOFF: 5,
  CRASHED: 6,
  PMSUSPENDED: 7,
} as const;

export type DomainStateName = keyof typeof DomainState;

export function domainStateName(state: number): DomainStateName | "UNKNOWN" {
  for (const [k, v] of Object.entries(DomainState)) if (v === state) return k as DomainStateName;
  return "UNKNOWN";
}
