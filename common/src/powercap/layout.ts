/**
 * The powercap tree's layout, defined once: what every reader and writer of
 * a tree (the host's sysfs, a VM's tree, the channel's lines, the guest's
 * tree) agrees on. A VM's tree is one package, `intel-rapl:0` (`package-0`),
 * with one sub-zone `intel-rapl:0:M` per host sub-domain name (core, uncore,
 * dram...), in the host's order.
 */

/** A zone's directory: `intel-rapl:N` (a package, or psys) or `intel-rapl:N:M` (a sub-domain). */
export const ZONE_ID_RE = /^intel-rapl:(\d{1,3})(?::(\d{1,3}))?$/;

/** N and M of a zone id, or null where it is not one. */
export function parseZoneId(id: string): { n: number; sub: number | null } | null {
  const m = ZONE_ID_RE.exec(id);
  return m ? { n: Number(m[1]), sub: m[2] === undefined ? null : Number(m[2]) } : null;
}

/** A zone's `name` as powercap writes them (package-N, core, uncore, dram, psys...); anything else is not trusted. */
export const ZONE_NAME_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Zones a reader takes from a tree it scans (a hostile share can hold thousands of directories). */
export const MAX_TREE_SCAN_ZONES = 64;

/** Zones one channel line may carry: a VM tree's package and its sub-zones, with room to spare. */
export const MAX_LINE_ZONES = 16;

/** The VM tree's package zone. */
export const VM_PACKAGE_ZONE = "intel-rapl:0";
export const VM_PACKAGE_NAME = "package-0";

/** The VM tree's sub-zone for the M-th host sub-domain name. */
export function vmSubZone(m: number): string {
  return `${VM_PACKAGE_ZONE}:${m}`;
}

/** The wrap point of a RAPL package counter (2^32 × 61 µJ), used where the host gives none. */
export const DEFAULT_MAX_UJ = 262143328850;

/**
 * A file at the root of a tree that scaph writes (a VM's tree on the host, the
 * channel's tree in the guest): its presence says that each energy_uj's
 * modification time is the host time of its value, which scaph's own
 * readers take as the time of the reading (a reader's own clock would find
 * one step more or less in its window).
 */
export const HOST_CLOCK_FILE = ".scaph-clock";
export const HOST_CLOCK_TEXT = "energy_uj modification times are the host times of their values\n";
