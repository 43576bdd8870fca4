import type { Logger } from "@scaph/common";
import { errorMessage } from "@scaph/common";
import { DirHandle, openChildDir, openVmDir, readCounter, writeFileAtomic } from "./tree.js";

/** A zone of a VM tree. */
export interface ZoneSpec {
  /** Directory: `intel-rapl:0`, `intel-rapl:0:M`. */
  id: string;
  /** Content of `name`: `package-0`, `core`, `dram`... */
  name: string;
  /** Where `energy_uj` wraps, like the host's hardware counter. */
  maxUj: number;
}

/** The wrap point of a RAPL package counter (2^32 × 61 µJ), used where the host gives none. */
export const DEFAULT_MAX_UJ = 262143328850;

/** The zones of a VM tree: package-0 plus one sub-zone per host sub-domain name. */
export function vmZones(subNames: readonly string[], maxOf: (name: string) => number | null): ZoneSpec[] {
  return [
    { id: "intel-rapl:0", name: "package-0", maxUj: maxOf("package") ?? DEFAULT_MAX_UJ },
    ...subNames.map((n, m) => ({ id: `intel-rapl:0:${m}`, name: n, maxUj: maxOf(n) ?? DEFAULT_MAX_UJ })),
  ];
}

/**
 * One VM's powercap tree under `<base>/<name>`: cumulative counters kept in
 * memory, continued from the values found in the tree at first sight (after a
 * host agent restart), written atomically every step. Energy that cannot be
 * written (full tmpfs, unwritable directory) stays in memory and is written
 * with the next successful step: nothing is lost.
 */
export class VmTree {
  /** Cumulative µJ per zone id, once restored from the tree. */
  private readonly counters = new Map<string, number>();
  /** Gains not yet added to a restored counter. */
  private readonly pending = new Map<string, number>();
  private lastError: string | null = null;

  constructor(
    readonly baseDir: string,
    readonly name: string,
    private readonly log: Logger,
  ) {}

  /** The counter of a zone as last computed (for tests and status). */
  counter(zone: string): number | undefined {
    return this.counters.get(zone);
  }

  /** Adds each zone's gain and writes the tree. Returns false (and logs once per distinct error) when writing failed. */
  async update(zones: readonly ZoneSpec[], gains: ReadonlyMap<string, number>): Promise<boolean> {
    for (const z of zones) this.pending.set(z.id, (this.pending.get(z.id) ?? 0) + (gains.get(z.id) ?? 0));
    let vm: DirHandle | null = null;
    try {
      vm = await openVmDir(this.baseDir, this.name);
      // Sub-zones first, the package last: a reader that sees the package sees the whole tree.
      for (const z of [...zones].reverse()) await this.writeZone(vm, z);
      if (this.lastError !== null) this.log.info(`tree ${this.name}: writing again`);
      this.lastError = null;
      return true;
    } catch (err) {
      const msg = errorMessage(err);
      if (msg !== this.lastError) this.log.warn(`tree ${this.name}: ${msg} (energy kept in memory, retried next step)`);
      this.lastError = msg;
      return false;
    } finally {
      await vm?.close();
    }
  }

  private async writeZone(vm: DirHandle, z: ZoneSpec): Promise<void> {
    const dir = await openChildDir(vm, z.id, this.log);
    try {
      let cur = this.counters.get(z.id);
      if (cur === undefined) {
        const found = await readCounter(dir, "energy_uj");
        if (found !== null && found <= z.maxUj) cur = found;
        else {
          this.log.info(
            `tree ${this.name}/${z.id}: ${found === null ? "no valid energy_uj" : `energy_uj ${found} above its max`}, starting from 0`,
          );
          cur = 0;
        }
      }
      const next = (cur + (this.pending.get(z.id) ?? 0)) % z.maxUj;
      await writeFileAtomic(dir, "name", `${z.name}\n`);
      await writeFileAtomic(dir, "max_energy_range_uj", `${z.maxUj}\n`);
      await writeFileAtomic(dir, "energy_uj", `${next}\n`);
      this.counters.set(z.id, next);
      this.pending.set(z.id, 0);
    } finally {
      await dir.close();
    }
  }
}
