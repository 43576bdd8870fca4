import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { ScaphError, errnoCode } from "../errors.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import type { Microjoules } from "../units.js";

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

const ZONE_RE = /^intel-rapl:(\d+)(?::(\d+))?$/;

/** Infers the socket of a package zone from its name `package-K`, else the N of its id. */
function socketOf(name: string, n: number): number {
  const m = /^package-(\d+)$/.exec(name);
  return m ? Number(m[1]) : n;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return null;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Parses a non-negative decimal integer as the kernel writes it; null if malformed. */
export function parseUj(text: string): Microjoules | null {
  const t = text.trim();
  if (!/^\d{1,16}$/.test(t)) return null;
  return Number(t);
}

export function noPowercapError(root: string, detail: string): ScaphError {
  return new ScaphError(
    `No RAPL powercap zones found under ${root} (${detail}).\n` +
      `  - On an Intel or AMD host, load the driver: modprobe intel_rapl_common (and intel_rapl_msr)\n` +
      `  - If the tree lives elsewhere, pass --powercap-path DIR\n` +
      `  - On a machine without RAPL, use the estimation sensor: --sensor estimate\n` +
      `  - Inside a virtual machine, use scaph-guest, which reads the tree the host shares (SCAPHANDRE_POWERCAP_PATH)`,
  );
}

async function listZoneDirs(root: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") throw noPowercapError(root, "no such directory");
    if (code === "EACCES") throw new ScaphError(`Cannot read ${root}: permission denied`);
    throw err;
  }
  for (const e of entries) {
    if (!ZONE_RE.test(e)) continue;
    found.set(e, join(root, e));
    // Real sysfs nests sub-zones inside their package too; accept both layouts.
    let children: string[] = [];
    try {
      children = await readdir(join(root, e));
    } catch {
      continue;
    }
    for (const c of children) if (ZONE_RE.test(c) && !found.has(c)) found.set(c, join(root, e, c));
  }
  return found;
}

/**
 * Finds the RAPL zones under a powercap root (default `/sys/class/powercap`).
 * Zones without `energy_uj` are skipped; a missing `name` is inferred from the
 * directory; a missing `max_energy_range_uj` is warned about once.
 */
export async function discoverZones(root: string, log: Logger = silentLogger): Promise<Zone[]> {
  const dirs = await listZoneDirs(root);
  const zones: Zone[] = [];
  for (const [id, path] of dirs) {
    const m = ZONE_RE.exec(id);
    if (!m) continue;
    const n = Number(m[1]);
    const sub = m[2] === undefined ? null : Number(m[2]);
    if (!(await exists(join(path, "energy_uj")))) {
      log.debug(`powercap: ${path} has no energy_uj, skipped`);
      continue;
    }
    const rawName = (await readText(join(path, "name")))?.trim();
    const name = rawName ? rawName : sub === null ? `package-${n}` : `domain-${sub}`;
    if (!rawName) log.warnOnce(`noname:${path}`, `powercap: ${path}/name is missing, using "${name}"`);
    const maxText = await readText(join(path, "max_energy_range_uj"));
    const max = maxText === null ? null : parseUj(maxText);
    if (max === null || max === 0) {
      log.warnOnce(
        `nomax:${path}`,
        `powercap: ${path}/max_energy_range_uj is missing or invalid; a decreasing counter will be treated as a reset`,
      );
    }
    const kind: ZoneKind = sub !== null ? "subdomain" : name === "psys" ? "psys" : "package";
    zones.push({
      id,
      path,
      name,
      kind,
      socket: kind === "package" ? socketOf(name, n) : n,
      parent: sub === null ? null : `intel-rapl:${n}`,
      maxEnergyRangeUj: max === null || max === 0 ? null : max,
    });
  }
  // Sub-domains take the socket of their package.
  const byId = new Map(zones.map((z) => [z.id, z]));
  const fixed = zones.map((z) => {
    const p = z.parent === null ? undefined : byId.get(z.parent);
    return p ? { ...z, socket: p.socket } : z;
  });
  fixed.sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));
  if (!fixed.some((z) => z.kind !== "subdomain")) {
    throw noPowercapError(root, dirs.size === 0 ? "no intel-rapl:N directory" : "no zone with a readable energy_uj");
  }
  return fixed;
}
