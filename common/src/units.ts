/**
 * Units used across scaph. Every quantity a user sees names its unit; these
 * aliases keep the unit visible in signatures too.
 */

/** Energy in microjoules (µJ), the unit of powercap's energy_uj. */
export type Microjoules = number;
/** Power in microwatts (µW), the unit of Scaphandre's reports and metrics. */
export type Microwatts = number;
/** Duration in seconds. */
export type Seconds = number;
/** CPU time in clock ticks (USER_HZ), the unit of /proc/stat. */
export type Ticks = number;

/** Average power over an interval; 0 for an empty interval. */
export function averagePowerUw(energyUj: Microjoules, intervalS: Seconds): Microwatts {
  return intervalS > 0 ? energyUj / intervalS : 0;
}
