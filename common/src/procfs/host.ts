export interface HostStats {
  load1: number;
  load5: number;
  load15: number;
  memTotalBytes: number;
  memAvailableBytes: number;
  memFreeBytes: number;
  swapTotalBytes: number;
  swapFreeBytes: number;
}

/** /proc/loadavg and /proc/meminfo as read by the loop; fields that cannot be read are NaN (and not exported). */
export function parseHostStats(loadavg: string, meminfo: string): HostStats {
  const load = loadavg.trim().split(/\s+/).map(Number);
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(meminfo);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  return {
    load1: load[0] ?? NaN,
    load5: load[1] ?? NaN,
    load15: load[2] ?? NaN,
    memTotalBytes: kb("MemTotal"),
    memAvailableBytes: kb("MemAvailable"),
    memFreeBytes: kb("MemFree"),
    swapTotalBytes: kb("SwapTotal"),
    swapFreeBytes: kb("SwapFree"),
  };
}
