import { lstatSync, opendirSync } from "node:fs";
import { join } from "node:path";
import { NoPowercapError, ScaphError, errnoCode } from "../errors.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import type { Microjoules } from "../units.js";
import { describeFailure, excerpt, NAME_BOUND, readBounded, VALUE_BOUND } from "../io/bounded.js";
import { parseUj } from "./read.js";
import { MAX_TREE_SCAN_ZONES, parseZoneId, ZONE_ID_RE, ZONE_NAME_RE } from "./layout.js";

/** What a zone measures. `mmio` zones duplicate the package and are ignored for power. */
export type ZoneKind = "package" | "subdomain" | "psys";

/** A powercap zone, found once at start. */
export interface Zone {
  /** Directory name, e.g. `intel-rapl:0:1`. */
  readonly id: string;
  /** Absolute path of the zone directory. */
  readonly path: string;
  /** Content of `name` (`package-0`, `core`, `dram`, `psys`), or inferred. */
  readonly name: string;
  readonly kind: ZoneKind;
  /** Socket the zone belongs to; for psys, the N of `intel-rapl:N`. */
  readonly socket: number;
  /** Parent zone id for sub-domains. */
  readonly parent: string | null;
  /** `max_energy_range_uj`, or null where the tree has none. */
  readonly maxEnergyRangeUj: Microjoules | null;
}

/** Infers the socket of a package zone from its name `package-K`, else the N of its id. */
function socketOf(name: string, n: number): number {
  const m = /^package-(\d+)$/.exec(name);
  return m ? Number(m[1]) : n;
}

/** A zone from its id, its directory, its name and its wrap point; null where the id is not a zone's. */
export function zoneOf(id: string, path: string, name: string, maxEnergyRangeUj: Microjoules | null): Zone | null {
  const parsed = parseZoneId(id);
  if (!parsed) return null;
  const { n, sub } = parsed;
  const kind: ZoneKind = sub !== null ? "subdomain" : name === "psys" ? "psys" : "package";
  return { id, path, name, kind, socket: kind === "package" ? socketOf(name, n) : n, parent: sub === null ? null : `intel-rapl:${n}`, maxEnergyRangeUj };
}

/** Bounds on what a tree may make a reader look at (a hostile share can hold millions of entries). */
export const MAX_ENTRIES_SCANNED = 4096;

/** A zone's `name` or `max_energy_range_uj`: its text, null if missing; anything else is logged (once) and null. */
function readZoneFile(path: string, bound: number, log: Logger): string | null {
  const r = readBounded(path, bound);
  if (r.ok) return r.text;
  if (r.why !== "missing") log.warnOnce(`bad:${path}`, `powercap: ${path} is ${describeFailure(r, bound)}: ignored`);
  return null;
}

/** Whether `energy_uj` is there, without following a symlink. */
function hasEnergyFile(zonePath: string): boolean {
  try {
    lstatSync(join(zonePath, "energy_uj"));
    return true;
  } catch {
    return false;
  }
}

/** Up to MAX_ENTRIES_SCANNED names of a directory, without reading a hostile one whole. */
function boundedReaddir(dir: string): string[] {
  const d = opendirSync(dir);
  const names: string[] = [];
  try {
    for (let e = d.readSync(); e !== null && names.length < MAX_ENTRIES_SCANNED; e = d.readSync()) names.push(e.name);
  } finally {
    d.closeSync();
  }
  return names;
}

function listZoneDirs(root: string): Map<string, string> {
  const found = new Map<string, string>();
  let entries: string[];
  try {
    entries = boundedReaddir(root);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") throw new NoPowercapError(root, "absent", "no such directory");
    if (code === "EACCES") throw new ScaphError(`Cannot read ${root}: permission denied`);
    throw err;
  }
  for (const e of entries) {
    if (!ZONE_ID_RE.test(e) || found.size >= MAX_TREE_SCAN_ZONES) continue;
    found.set(e, join(root, e));
    // Real sysfs nests sub-zones inside their package too; accept both layouts.
    let children: string[] = [];
    try {
      children = boundedReaddir(join(root, e));
    } catch {
      continue;
    }
    for (const c of children) if (ZONE_ID_RE.test(c) && !found.has(c) && found.size < MAX_TREE_SCAN_ZONES) found.set(c, join(root, e, c));
  }
  return found;
}

/**
 * Finds the RAPL zones under a powercap root (default `/sys/class/powercap`).
 * Zones without `energy_uj` are skipped; a missing `name` is inferred from the
 * directory; a missing `max_energy_range_uj` is warned about once.
 */
export function discoverZones(root: string, log: Logger = silentLogger): Zone[] {
  const dirs = listZoneDirs(root);
  const zones: Zone[] = [];
  for (const [id, path] of dirs) {
    const parsed = parseZoneId(id);
    if (!parsed) continue;
    const { n, sub } = parsed;
    if (!hasEnergyFile(path)) {
      log.debug(`powercap: ${path} has no energy_uj, skipped`);
      continue;
    }
    const inferred = sub === null ? `package-${n}` : `domain-${sub}`;
    const rawName = readZoneFile(join(path, "name"), NAME_BOUND, log)?.trim() ?? "";
    const name = ZONE_NAME_RE.test(rawName) ? rawName : inferred;
    if (rawName === "") log.warnOnce(`noname:${path}`, `powercap: ${path}/name is missing, using "${name}"`);
    else if (name !== rawName) log.warnOnce(`badname:${path}`, `powercap: ${path}/name holds ${excerpt(rawName)}, not a powercap zone name: using "${name}"`);
    const maxText = readZoneFile(join(path, "max_energy_range_uj"), VALUE_BOUND, log);
    const max = maxText === null ? null : parseUj(maxText);
    if (max === null || max === 0) {
      log.warnOnce(`nomax:${path}`, `powercap: ${path}/max_energy_range_uj is missing or invalid; a decreasing counter will be treated as a reset`);
    }
    zones.push(zoneOf(id, path, name, max === null || max === 0 ? null : max) as Zone);
  }
  // Sub-domains take the socket of their package.
  const byId = new Map(zones.map((z) => [z.id, z]));
  const fixed = zones.map((z) => {
    const p = z.parent === null ? undefined : byId.get(z.parent);
    return p ? { ...z, socket: p.socket } : z;
  });
  fixed.sort((a, b) => compareZoneIds(a.id, b.id));
  if (!fixed.some((z) => z.kind !== "subdomain")) {
    throw new NoPowercapError(root, "empty", dirs.size === 0 ? "no intel-rapl:N directory" : "no zone with a readable energy_uj");
  }
  return fixed;
}

/**
 * intel-rapl:2 before intel-rapl:10: digits compared as numbers, the rest
 * byte by byte (localeCompare's numeric collation would load ICU's data, 3 MB
 * of RSS, for ASCII names).
 */
export function compareZoneIds(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x === y) continue;
    if (i % 2 === 1) return Number(x) - Number(y) || (x < y ? -1 : 1);
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}
