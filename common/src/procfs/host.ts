export interface HostStats {
  load1: number;
  load5: number;
  load15: number;
  memTotalBytes: number;
  memAvailableBytes: number;
  memFreeBytes: number;
  swapTotalBytes: number;
  swapFreeBytes: number;
  /** From /proc/stat: processes created since boot (`processes`), running and blocked now, context switches since boot (`ctxt`). */
  forksTotal: number;
  processesRunning: number;
  processesBlocked: number;
  contextSwitchesTotal: number;
}

/** /proc/loadavg, /proc/meminfo and /proc/stat as read by the loop; fields that cannot be read are NaN (and not exported). */
export function parseHostStats(loadavg: string, meminfo: string, stat = ""): HostStats {
  const load = loadavg.trim().split(/\s+/).map(Number);
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(meminfo);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  const count = (key: string): number => {
    const m = new RegExp(`^${key} (\\d+)$`, "m").exec(stat);
    return m ? Number(m[1]) : NaN;
  };
  return {
    forksTotal: count("processes"),
    processesRunning: count("procs_running"),
    processesBlocked: count("procs_blocked"),
    contextSwitchesTotal: count("ctxt"),
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
