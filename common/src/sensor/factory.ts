import { ScaphError } from "../errors.js";
import type { Logger } from "../log.js";
import { EstimateSensor } from "./estimate.js";
import { PowercapSensor } from "./powercap.js";
import type { Sensor } from "./types.js";

export const SENSOR_NAMES = ["powercap_rapl", "estimate"] as const;
export type SensorName = (typeof SENSOR_NAMES)[number];

export interface SensorOptions {
  sensor: string;
  powercapPath: string;
  procfsPath: string;
  tdpWatts?: number;
  idleWatts?: number;
  log?: Logger;
}

export async function createSensor(o: SensorOptions): Promise<Sensor> {
  switch (o.sensor) {
    case "powercap_rapl":
      return PowercapSensor.open({ root: o.powercapPath, ...(o.log ? { log: o.log } : {}) });
    case "estimate": {
      const s = new EstimateSensor({
        procRoot: o.procfsPath,
        ...(o.tdpWatts !== undefined ? { tdpWatts: o.tdpWatts } : {}),
        ...(o.idleWatts !== undefined ? { idleWatts: o.idleWatts } : {}),
      });
      s.read();
      return s;
    }
    default:
      throw new ScaphError(`Unknown sensor "${o.sensor}"; choose one of: ${SENSOR_NAMES.join(", ")}`);
  }
}
