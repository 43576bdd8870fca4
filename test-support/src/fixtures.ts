import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseUj, replaceFile } from "@scaph/common";

/** The repository's fixtures/ directory (this file is test-support/dist/src/: test support lives in the repository only). */
export function fixturesDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "../../../fixtures");
}

/** Copies fixtures/<rel> into a new temporary directory and returns its path. */
export async function copyFixture(rel: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "scaph-fixture-"));
  const dest = join(dir, "tree");
  await cp(join(fixturesDir(), rel), dest, { recursive: true, verbatimSymlinks: true });
  return dest;
}

export async function removeTree(path: string): Promise<void> {
  await rm(dirname(path), { recursive: true, force: true });
}

/** Replaces a file atomically, so a concurrent reader never sees half of it (scaph's one atomic write). */
export async function writeAtomic(file: string, text: string): Promise<void> {
  replaceFile(dirname(file), basename(file), text);
}

/** Reads and writes the energy counters of a powercap tree (a copy of a fixture). */
export class PowercapFixture {
  constructor(readonly root: string) {}

  async energy(zone: string): Promise<number> {
    const v = parseUj(await readFile(join(this.root, zone, "energy_uj"), "utf8"));
    if (v === null) throw new Error(`bad energy_uj in ${zone}`);
    return v;
  }

  async max(zone: string): Promise<number | null> {
    try {
      return parseUj(await readFile(join(this.root, zone, "max_energy_range_uj"), "utf8"));
    } catch {
      return null;
    }
  }

  async setEnergy(zone: string, uj: number): Promise<void> {
    await writeAtomic(join(this.root, zone, "energy_uj"), `${uj}\n`);
  }

  /** Adds `uj` to a zone's counter, wrapping at its max_energy_range_uj like hardware. */
  async advance(zone: string, uj: number): Promise<void> {
    const max = await this.max(zone);
    let v = (await this.energy(zone)) + uj;
    if (max !== null && max > 0) v %= max;
    await this.setEnergy(zone, v);
  }
}

/** Fields of /proc/PID/stat, numbered as in proc(5). */
const UTIME_FIELD = 14;
const STIME_FIELD = 15;

/** Reads and writes the CPU times of a /proc tree (a copy of a fixture). */
export class ProcFixture {
  constructor(readonly root: string) {}

  /** Adds ticks to the `user` field of the aggregate cpu line of /proc/stat (and cpu0). */
  async advanceBusy(ticks: number, idleTicks = 0): Promise<void> {
    const file = join(this.root, "stat");
    const lines = (await readFile(file, "utf8")).split("\n").map((l) => {
      if (!/^cpu0?\s/.test(l)) return l;
      const f = l.trim().split(/\s+/);
      f[1] = String(Number(f[1]) + ticks);
      f[4] = String(Number(f[4]) + idleTicks);
      return f[0] === "cpu" ? `cpu  ${f.slice(1).join(" ")}` : f.join(" ");
    });
    await writeAtomic(file, lines.join("\n"));
  }

  /** Adds ticks to a process's utime (and optionally stime). */
  async advanceProcess(pid: number, utime: number, stime = 0): Promise<void> {
    const file = join(this.root, String(pid), "stat");
    const text = await readFile(file, "utf8");
    const close = text.lastIndexOf(")");
    const f = text
      .slice(close + 2)
      .trim()
      .split(" ");
    // f[0] is field 3 (state), so field N is f[N - 3].
    f[UTIME_FIELD - 3] = String(Number(f[UTIME_FIELD - 3]) + utime);
    f[STIME_FIELD - 3] = String(Number(f[STIME_FIELD - 3]) + stime);
    await writeAtomic(file, `${text.slice(0, close + 1)} ${f.join(" ")}\n`);
  }

  async setUptime(seconds: number): Promise<void> {
    await writeAtomic(join(this.root, "uptime"), `${seconds.toFixed(2)} 0.00\n`);
  }
}
