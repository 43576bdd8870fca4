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

/** virDomainPausedReason (the reasons scaph tells apart). */
export const PausedReason = {
  UNKNOWN: 0,
  USER: 1,
  /** Paused for migration: on the destination until it ends (incoming), on the source at its end. */
  MIGRATION: 2,
  SAVE: 3,
  /** Paused while qemu starts, before libvirt resumes it. */
  STARTING_UP: 11,
  POSTCOPY: 12,
} as const;

/** virDomainRunningReason (the reasons scaph tells apart). */
export const RunningReason = {
  BOOTED: 1,
  /** Running after an incoming migration. */
  MIGRATED: 2,
  RESTORED: 3,
  UNPAUSED: 5,
} as const;

/** virDomainShutoffReason (the reasons scaph tells apart). */
export const ShutoffReason = {
  /** Migrated to another host (its definition kept here). */
  MIGRATED: 5,
  SAVED: 4,
} as const;

export function domainStateName(state: number): DomainStateName | "UNKNOWN" {
  for (const [k, v] of Object.entries(DomainState)) if (v === state) return k as DomainStateName;
  return "UNKNOWN";
}

/** virDomainEventType */
export const DomainEventType = {
  DEFINED: 0,
  UNDEFINED: 1,
  STARTED: 2,
  SUSPENDED: 3,
  RESUMED: 4,
  STOPPED: 5,
  SHUTDOWN: 6,
  PMSUSPENDED: 7,
  CRASHED: 8,
} as const;
