import type { Microjoules } from "../units.js";

/**
 * The energy a counter gained between two readings.
 *
 * RAPL counters wrap at `max_energy_range_uj`: when `cur < prev` the delta is
 * `cur - prev + max`. Without a known max (trees written by other tools) a
 * decrease is a reset: the delta is 0 and `cur` becomes the new baseline, so
 * there is never a negative delta and never a spike.
 */
export function counterDelta(prev: Microjoules, cur: Microjoules, maxRangeUj: Microjoules | null): Microjoules {
  if (cur >= prev) return cur - prev;
  if (maxRangeUj !== null && maxRangeUj > 0 && prev <= maxRangeUj) return cur - prev + maxRangeUj;
  return 0;
}

/** Whether a decrease from prev to cur is a reset (no usable max) rather than a wrap. */
export function isCounterReset(prev: Microjoules, cur: Microjoules, maxRangeUj: Microjoules | null): boolean {
  return cur < prev && !(maxRangeUj !== null && maxRangeUj > 0 && prev <= maxRangeUj);
}
