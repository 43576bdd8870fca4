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

export async function createSensor(options: SensorOptions): Promise<Sensor> {
  switch (options.sensor) {
    case "powercap_rapl":
      return PowercapSensor.open({ root: options.powercapPath, ...(options.log ? { log: options.log } : {}) });
    case "estimate": {
      const s = new EstimateSensor({
        procRoot: options.procfsPath,
        ...(options.tdpWatts !== undefined ? { tdpWatts: options.tdpWatts } : {}),
        ...(options.idleWatts !== undefined ? { idleWatts: options.idleWatts } : {}),
      });
      s.read();
      return s;
    }
    default:
      throw new ScaphError(`Unknown sensor "${options.sensor}"; choose one of: ${SENSOR_NAMES.join(", ")}`);
  }
}
