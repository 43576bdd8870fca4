import type { Microjoules, Ticks } from "../units.js";

/**
 * share(c) = Δcpu(c) / Δbusy, clamped to [0, 1]; if Σ share > 1 the shares
 * are normalised so that they sum to 1. Never negative, never above the host.
 */
export function cpuShares(busyTicks: Ticks, deltaTicks: ArrayLike<Ticks>): number[] {
  const n = deltaTicks.length;
  const raw = new Array<number>(n).fill(0);
  if (!(busyTicks > 0)) return raw;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const s = Math.min(1, Math.max(0, (deltaTicks[i] as number) / busyTicks));
    raw[i] = s;
    sum += s;
  }
  if (sum > 1) for (let i = 0; i < n; i++) raw[i] = (raw[i] as number) / sum;
  return raw;
}

/**
 * Splits `energyUj` by shares into whole microjoules whose sum never exceeds
 * round(Σ share × energy): largest-remainder rounding, so no µJ is created or
 * lost by rounding. Only consumers with a share take part in the rounding
 * (on a host, most processes used no CPU over a step).
 */
export function splitEnergy(energyUj: Microjoules, shares: ArrayLike<number>): Microjoules[] {
  const n = shares.length;
  const floors: Microjoules[] = new Array<number>(n).fill(0);
  const active: { i: number; r: number }[] = [];
  let exactSum = 0;
  let floorSum = 0;
  for (let i = 0; i < n; i++) {
    const s = shares[i] as number;
    if (!(s > 0)) continue;
    const e = s * energyUj;
    const f = Math.floor(e);
    floors[i] = f;
    exactSum += e;
    floorSum += f;
    if (e > f) active.push({ i, r: e - f });
  }
  let left = Math.min(Math.floor(energyUj), Math.round(exactSum)) - floorSum;
  if (left <= 0) return floors;
  active.sort((a, b) => b.r - a.r);
  for (const { i } of active) {
    if (left <= 0) break;
    floors[i] = (floors[i] ?? 0) + 1;
    left--;
  }
  return floors;
}
