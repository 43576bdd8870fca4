import { clockTicksPerSecond } from "./clock.js";
import { isKernelThread, listPids, readCmdline, readExe, readPidStat } from "./process.js";
import type { ProcStat } from "./process.js";
import { readCpuTimes, readUptimeS, busyTicks } from "./stat.js";
import type { Ticks } from "../units.js";

/** One user-space process at one instant. */
export interface ProcessInfo {
  /** `pid:startTicks`: stable identity, safe against pid reuse. */
  key: string;
  pid: number;
  comm: string;
  exe: string;
  cmdline: string[];
  cpuTicks: Ticks;
  startTicks: Ticks;
  rssPages: number;
  vsizeBytes: number;
}

/** A reading of /proc: busy time and every user-space process. */
export interface ProcSample {
  busyTicks: Ticks;
  uptimeS: number;
  processes: Map<string, ProcessInfo>;
}

export interface ProcessTableOptions {
  procRoot: string;
  /** Ticks per second (USER_HZ); read from the system by default. */
  clockTicks?: number;
}

/**
 * Reads /proc into ProcSamples. Kernel threads, vanished and unreadable
 * processes are skipped. cmdline and exe are read once per process lifetime.
 */
export class ProcessTable {
  readonly procRoot: string;
  readonly clockTicks: number;
  private readonly details = new Map<string, { exe: string; cmdline: string[] }>();

  constructor(options: ProcessTableOptions) {
    this.procRoot = options.procRoot;
    this.clockTicks = options.clockTicks ?? clockTicksPerSecond();
  }

  async sample(): Promise<ProcSample> {
    const [cpu, uptimeS, pids] = await Promise.all([
      readCpuTimes(this.procRoot),
      readUptimeS(this.procRoot),
      listPids(this.procRoot),
    ]);
    const stats = await Promise.all(pids.map((pid) => readPidStat(this.procRoot, pid)));
    const processes = new Map<string, ProcessInfo>();
    const live = new Set<string>();
    await Promise.all(
      stats.map(async (st) => {
        if (st === null || isKernelThread(st)) return;
        const info = await this.describe(st);
        if (info === null) return;
        live.add(info.key);
        processes.set(info.key, info);
      }),
    );
    for (const key of this.details.keys()) if (!live.has(key)) this.details.delete(key);
    return { busyTicks: busyTicks(cpu), uptimeS, processes };
  }

  private async describe(st: ProcStat): Promise<ProcessInfo | null> {
    const key = `${st.pid}:${st.startTicks}`;
    let d = this.details.get(key);
    if (!d) {
      const [exe, cmdline] = await Promise.all([readExe(this.procRoot, st.pid), readCmdline(this.procRoot, st.pid)]);
      // A user process with an empty cmdline is a zombie or is exiting: skip it.
      if (cmdline.length === 0 && exe === "") return null;
      d = { exe, cmdline };
      this.details.set(key, d);
    }
    return {
      key,
      pid: st.pid,
      comm: st.comm,
      exe: d.exe,
      cmdline: d.cmdline,
      cpuTicks: st.cpuTicks,
      startTicks: st.startTicks,
      rssPages: st.rssPages,
      vsizeBytes: st.vsizeBytes,
    };
  }
}
