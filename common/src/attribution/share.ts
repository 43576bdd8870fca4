import type { Microjoules, Ticks } from "../units.js";

/**
 * share(c) = Δcpu(c) / Δbusy, clamped to [0, 1]; if Σ share > 1 the shares
 * are normalised so that they sum to 1. Never negative, never above the host.
 */
export function cpuShares(busyTicks: Ticks, deltaTicks: readonly Ticks[]): number[] {
  if (!(busyTicks > 0)) return deltaTicks.map(() => 0);
  const raw = deltaTicks.map((d) => Math.min(1, Math.max(0, d / busyTicks)));
  const sum = raw.reduce((a, b) => a + b, 0);
  return sum > 1 ? raw.map((s) => s / sum) : raw;
}

/**
 * Splits `energyUj` by shares into whole microjoules whose sum never exceeds
 * round(Σ share × energy): largest-remainder rounding, so no µJ is created or
 * lost by rounding.
 */
export function splitEnergy(energyUj: Microjoules, shares: readonly number[]): Microjoules[] {
  const exact = shares.map((s) => s * energyUj);
  const floors = exact.map(Math.floor);
  const target = Math.min(Math.floor(energyUj), Math.round(exact.reduce((a, b) => a + b, 0)));
  let left = target - floors.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r);
  for (const { i } of order) {
    if (left <= 0) break;
    floors[i] = (floors[i] ?? 0) + 1;
    left--;
  }
  return floors;
}
