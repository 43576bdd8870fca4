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
  return isCounterReset(prev, cur, maxRangeUj) ? 0 : cur - prev + (maxRangeUj as number);
}

/**
 * Whether a decrease from prev to cur is a reset rather than a wrap: there is
 * no usable max, prev is above it (garbage), or the wrap would mean more than
 * half the counter's range in one interval (a tree rewritten from a lower
 * value, not hardware: at 262 kJ, half the range in a 2 s step is 65 kW).
 */
export function isCounterReset(prev: Microjoules, cur: Microjoules, maxRangeUj: Microjoules | null): boolean {
  if (cur >= prev) return false;
  if (maxRangeUj === null || maxRangeUj <= 0 || prev > maxRangeUj) return true;
  return cur - prev + maxRangeUj > maxRangeUj / 2;
}

/**
 * A counter that wraps as RAPL's does: `value + gain`, modulo `maxRangeUj`.
 * Every counter scaph keeps for a reader (a VM's tree, a channel's totals,
 * the guest's tree) adds its gains with this, so that each wraps where its
 * `max_energy_range_uj` says.
 */
export function wrapAdd(value: Microjoules, gain: Microjoules, maxRangeUj: Microjoules): Microjoules {
  return (value + gain) % maxRangeUj;
}
