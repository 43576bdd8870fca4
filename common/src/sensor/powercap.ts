import { discoverZones } from "../powercap/zones.js";
import type { Zone } from "../powercap/zones.js";
import { readEnergyUj } from "../powercap/read.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { nowSample } from "./types.js";
import type { EnergySample, Sensor } from "./types.js";

export interface PowercapSensorOptions {
  /** Powercap root, default /sys/class/powercap. */
  root: string;
  log?: Logger;
  /** Monotonic clock in ns; tests inject one to make power exact. */
  clock?: () => bigint;
}

/** Reads RAPL energy counters from a powercap tree (host sysfs or a VM tree). */
export class PowercapSensor implements Sensor {
  readonly name = "powercap_rapl";
  readonly estimated = false;
  readonly root: string;
  private zones: Zone[] = [];
  private readonly log: Logger;
  private readonly clock: (() => bigint) | undefined;

  private constructor(options: PowercapSensorOptions) {
    this.root = options.root;
    this.log = options.log ?? silentLogger;
    this.clock = options.clock;
  }

  /** Discovers the zones and reads them once, so errors surface at start. */
  static async open(options: PowercapSensorOptions): Promise<PowercapSensor> {
    const s = new PowercapSensor(options);
    s.zones = await discoverZones(s.root, s.log);
    await s.sample();
    return s;
  }

  get zoneList(): readonly Zone[] {
    return this.zones;
  }

  valueSource(): string {
    return this.zones.some((z) => z.kind === "psys") ? "powercap_rapl_psys" : "powercap_rapl_pkg";
  }

  private stale = false;
  private samples = 0;
  /** Zones are found again every this many samples: a tree that gains a zone (a VM tree being written) is followed. */
  static readonly REDISCOVER_EVERY = 10;

  /**
   * Reads every zone. A failed read (a tree replaced or unmounted under us)
   * throws, and the next call finds the zones again before reading.
   */
  async sample(): Promise<EnergySample> {
    if (this.stale || ++this.samples % PowercapSensor.REDISCOVER_EVERY === 0) {
      this.zones = await discoverZones(this.root, this.log);
      this.stale = false;
    }
    let values: number[];
    try {
      values = await Promise.all(this.zones.map((z) => readEnergyUj(z.path)));
    } catch (err) {
      this.stale = true;
      throw err;
    }
    const sample = nowSample(this.zones.map((zone, i) => ({ zone, energyUj: values[i] ?? 0 })));
    return this.clock ? { ...sample, monotonicNs: this.clock() } : sample;
  }
}
