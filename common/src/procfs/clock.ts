import { execFileSync } from "node:child_process";

const cache = new Map<string, number>();

/** A sysconf value through `getconf NAME`, read once; `fallback` if getconf is unavailable. */
function getconf(name: string, fallback: number): number {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  let v = fallback;
  try {
    const n = Number(execFileSync("getconf", [name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    if (Number.isInteger(n) && n > 0) v = n;
  } catch {
    // keep the fallback
  }
  cache.set(name, v);
  return v;
}

/** The kernel's USER_HZ (clock ticks per second); 100, the value on every mainstream Linux, if getconf is unavailable. */
export function clockTicksPerSecond(): number {
  return getconf("CLK_TCK", 100);
}

/** Bytes per memory page (4 KiB on x86, 64 KiB on some arm64 kernels); RSS in /proc/PID/stat is in pages. */
export function pageSizeBytes(): number {
  return getconf("PAGESIZE", 4096);
}
