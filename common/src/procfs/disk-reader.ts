/**
 * The disk metrics' source: the mounted filesystems and their sizes, read
 * in the background and handed out at once. A scrape or a push never
 * waits on the file system: it gets the newest reading, and asks for the
 * next one when that is older than `maxAgeMs`.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { MAX_DISK_FILESYSTEMS, diskMounts, diskStats } from "./disks.js";
import type { DiskStats } from "./disks.js";
import { StatfsProber } from "./statfs.js";

export interface DiskReaderOptions {
  /** Where `self/mountinfo` is (this process's mount namespace). */
  procRoot: string;
  sysRoot: string;
  log?: Logger;
  /** How long one `stat -f` may take, in ms (default 2,000). */
  statTimeoutMs?: number;
  /** How often a filesystem that hung is asked again, in ms (default 60,000). */
  retryMs?: number;
  /** A reading older than this is read again when asked (default 1,000). */
  maxAgeMs?: number;
  maxFilesystems?: number;
  /** The stat command (default `stat`). */
  statCommand?: string;
}

export class DiskReader {
  private latest: { atMs: number; disks: DiskStats[] } | null = null;
  private running: Promise<void> | null = null;
  private readonly prober: StatfsProber;
  private readonly log: Logger;
  /** Readings finished. */
  readings = 0;

  constructor(private readonly options: DiskReaderOptions) {
    this.log = options.log ?? silentLogger;
    this.prober = new StatfsProber({
      timeoutMs: options.statTimeoutMs ?? 2000,
      retryMs: options.retryMs ?? 60_000,
      ...(options.statCommand !== undefined ? { command: options.statCommand } : {}),
      warn: (key, message) => this.log.warnOnce(key, message),
    });
  }

  /** The newest reading (none before the first ends); starts the next one when it is stale. Never waits. */
  current(nowMs = Date.now()): DiskStats[] {
    if (this.latest === null || nowMs - this.latest.atMs > (this.options.maxAgeMs ?? 1000)) void this.refresh();
    return this.latest?.disks ?? [];
  }

  /** One reading (a reading under way is shared, not doubled). */
  refresh(): Promise<void> {
    this.running ??= this.read().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** The mount points left out because their statfs hung. */
  hung(): string[] {
    return this.prober.hungPaths();
  }

  private async read(): Promise<void> {
    let text: string;
    const path = join(this.options.procRoot, "self", "mountinfo");
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      this.log.warnOnce("disks:mountinfo", `disk metrics: cannot read ${path} (${errnoCode(err) ?? errorMessage(err)}): no disk series`);
      this.latest = { atMs: Date.now(), disks: [] };
      return;
    }
    const max = this.options.maxFilesystems ?? MAX_DISK_FILESYSTEMS;
    const { mounts, dropped } = diskMounts(text, max);
    if (dropped > 0)
      this.log.warnOnce("disks:too-many", `disk metrics: over ${max} filesystems mounted: the first ${max} are in the disk series, ${dropped} more are not`);
    const sizes = await this.prober.sizes(mounts.map((m) => m.mountPoint));
    const disks: DiskStats[] = [];
    for (const m of mounts) {
      const size = sizes.get(m.mountPoint);
      if (size) disks.push(diskStats(m, size, this.options.sysRoot));
    }
    this.latest = { atMs: Date.now(), disks };
    this.readings++;
  }
}
