import { execFileSync } from "node:child_process";

let cached: number | null = null;

/**
 * The kernel's USER_HZ (clock ticks per second), read from `getconf CLK_TCK`
 * once; 100 (the value on every mainstream Linux architecture) if getconf is
 * unavailable.
 */
export function clockTicksPerSecond(): number {
  if (cached !== null) return cached;
  try {
    const v = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    cached = Number.isInteger(v) && v > 0 ? v : 100;
  } catch {
    cached = 100;
  }
  return cached;
}
