import { discoverZones } from "../powercap/zones.js";
import type { Zone } from "../powercap/zones.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { HOST_CLOCK_FILE } from "../powercap/layout.js";
import { CounterReadError, readEnergy } from "../powercap/read.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { errorMessage } from "../errors.js";
import { nowSample } from "./types.js";
import type { EnergySample, Sensor } from "./types.js";

export interface PowercapSensorOptions {
  /** Powercap root, default /sys/class/powercap. */
  root: string;
  log?: Logger;
  /** Monotonic clock in ns; tests inject one to make power exact. */
  clock?: () => bigint;
}

/** A zone's counter and its file's modification time (ms). */
export interface TimedValue {
  uj: number;
  mtimeMs: number;
}

/** Reads of a tree taken again, at most, while its zones are of two frames. */
export const FRAME_REREADS = 3;

/**
 * A reading of a tree on its host's clock whose zones are all of one frame.
 * Its writer gives every zone of a frame the frame's time, and writes them
 * one after the other: zones of two times are a reading taken between two
 * of its writes, and would be timed by the newer frame while part of it is
 * missing. The frame completed, the next reading would find no newer time,
 * and that part would be shown only a frame later (or, with the writer
 * stopped there, not until it goes on). So the tree is read again, up to
 * FRAME_REREADS times (a frame is written in microseconds); zones that
 * never agree (a writer stopped mid-frame, a zone it no longer writes) are
 * taken as they are.
 */
export function oneFrame(readAll: () => readonly TimedValue[]): readonly TimedValue[] {
  let values = readAll();
  for (let k = 0; k < FRAME_REREADS && !values.every((v) => v.mtimeMs === values[0]?.mtimeMs); k++) values = readAll();
  return values;
}

/** Reads RAPL energy counters from a powercap tree (host sysfs or a VM tree). */
export class PowercapSensor implements Sensor {
  readonly name = "powercap_rapl";
  readonly estimated = false;
  readonly root: string;
  private zoneList: Zone[] = [];
  private readonly log: Logger;
  private readonly clock: (() => bigint) | undefined;
  /**
   * Whether the tree carries its host's clock (a tree scaph writes: its
   * HOST_CLOCK_FILE): each reading is then timed by its values' host time,
   * not by when this process read them, so that a step of this reader's
   * never finds one host step more or less than the time it measures over.
   */
  private hostClock = false;
  private lastHostMs = -1;
  /** The readings' time line (ns): the host's times, advanced by this process's own where the host's went back. */
  private hostMonoNs = 0n;
  private lastReadNs = 0n;

  private constructor(options: PowercapSensorOptions) {
    this.root = options.root;
    this.log = options.log ?? silentLogger;
    this.clock = options.clock;
  }

  /**
   * Discovers the zones and reads them once, so that a missing tree or a
   * permission problem (CVE-2020-8694) is an error at start. A counter that is
   * merely unreadable now (malformed, being replaced) is logged: the first
   * steps are skipped until it reads again, as any later step would be.
   */
  static async open(options: PowercapSensorOptions): Promise<PowercapSensor> {
    const s = new PowercapSensor(options);
    s.zoneList = discoverZones(s.root, s.log);
    s.hostClock = existsSync(join(s.root, HOST_CLOCK_FILE));
    if (s.hostClock) s.log.info(`powercap: ${s.root} carries its host's clock: each reading is timed by its values' host time`);
    try {
      s.read();
    } catch (err) {
      if (!(err instanceof CounterReadError)) throw err;
      s.log.warn(`powercap: ${errorMessage(err)} (at start; measuring once it reads again)`);
    }
    s.lastHostMs = -1; // that read was a check: the first reading of the meter's is its own
    return s;
  }

  zones(): readonly Zone[] {
    return this.zoneList;
  }

  valueSource(): string {
    return this.zoneList.some((z) => z.kind === "psys") ? "powercap_rapl_psys" : "powercap_rapl_pkg";
  }

  private stale = false;
  private samples = 0;
  /** Zones are found again every this many samples: a tree that gains a zone (a VM tree being written) is followed. */
  static readonly REDISCOVER_EVERY = 10;

  /**
   * Reads every zone. A failed read (a tree replaced or unmounted under us)
   * throws, and the next call finds the zones again before reading.
   */
  read(): EnergySample {
    if (this.stale || ++this.samples % PowercapSensor.REDISCOVER_EVERY === 0) {
      this.zoneList = discoverZones(this.root, this.log);
      this.hostClock = existsSync(join(this.root, HOST_CLOCK_FILE));
      this.stale = false;
    }
    let values: readonly TimedValue[];
    try {
      const readAll = (): TimedValue[] => this.zoneList.map((z) => readEnergy(z.path));
      values = this.hostClock ? oneFrame(readAll) : readAll();
    } catch (err) {
      this.stale = true;
      throw err;
    }
    const sample = nowSample(this.zoneList.map((zone, i) => ({ zone, energyUj: values[i]?.uj ?? 0 })));
    if (this.hostClock) return this.hostTimed(sample, values);
    return this.clock ? { ...sample, monotonicNs: this.clock() } : sample;
  }

  /**
   * A reading timed by the host time of its values: the newest energy_uj's
   * modification time (the writer sets each frame's, sub-zones then the
   * package). No new value since the last reading: nothing to measure (the
   * step is skipped quietly, and the next measures from the last). A host
   * clock that went back (stepped by NTP, another host after a migration)
   * times that one interval by this process's clock instead.
   */
  private hostTimed(sample: EnergySample, values: readonly TimedValue[]): EnergySample {
    const ms = Math.max(...values.map((v) => v.mtimeMs));
    const now = sample.monotonicNs;
    if (ms === this.lastHostMs) throw new CounterReadError("no new value in the tree since the last step", { quiet: true });
    if (this.lastHostMs < 0) this.hostMonoNs = now;
    else if (ms > this.lastHostMs) this.hostMonoNs += BigInt(Math.round((ms - this.lastHostMs) * 1e6));
    else {
      this.log.warn(
        `powercap: the host time of ${this.root}'s values went back by ${((this.lastHostMs - ms) / 1000).toFixed(3)} s: this interval is timed by this reader's clock`,
      );
      this.hostMonoNs += now > this.lastReadNs ? now - this.lastReadNs : 1n;
    }
    this.lastHostMs = ms;
    this.lastReadNs = now;
    return { ...sample, monotonicNs: this.hostMonoNs, timestampS: ms / 1000 };
  }
}
