import { discoverZones } from "../powercap/zones.js";
import type { Zone } from "../powercap/zones.js";
import { CounterReadError, readEnergyUj } from "../powercap/read.js";
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

/** Reads RAPL energy counters from a powercap tree (host sysfs or a VM tree). */
export class PowercapSensor implements Sensor {
  readonly name = "powercap_rapl";
  readonly estimated = false;
  readonly root: string;
  private zoneList: Zone[] = [];
  private readonly log: Logger;
  private readonly clock: (() => bigint) | undefined;

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
    try {
      s.read();
    } catch (err) {
      if (!(err instanceof CounterReadError)) throw err;
      s.log.warn(`powercap: ${errorMessage(err)} (at start; measuring once it reads again)`);
    }
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
      this.stale = false;
    }
    let values: number[];
    try {
      values = this.zoneList.map((z) => readEnergyUj(z.path));
    } catch (err) {
      this.stale = true;
      throw err;
    }
    const sample = nowSample(this.zoneList.map((zone, i) => ({ zone, energyUj: values[i] ?? 0 })));
    return this.clock ? { ...sample, monotonicNs: this.clock() } : sample;
  }
}
