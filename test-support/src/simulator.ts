import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { basename, dirname, join } from "node:path";
import { parseUj, replaceFile } from "@scaph/common";

export interface SimulatedZone {
  zone: string;
  watts: number;
}

export interface SimulatedProcess {
  pid: number;
  /** CPU used by the process, in CPUs (1 = one CPU fully busy). */
  cpus: number;
}

export interface SimulatorOptions {
  powercapRoot: string;
  zones: SimulatedZone[];
  procRoot?: string;
  processes?: SimulatedProcess[];
  /** Busy CPUs not attributed to any listed process. */
  extraBusyCpus?: number;
  clockTicks?: number;
  /** Update period, ms. */
  periodMs?: number;
}

/** Fields of /proc/PID/stat, numbered as in proc(5). */
const UTIME_FIELD = 14;

/**
 * A fixture tree advanced by a given time: each zone gains `watts` × dt, each
 * process `cpus` × dt × USER_HZ ticks. Every advance writes every file
 * synchronously, back to back, so a reader sees all zones and processes
 * advanced together (up to a few µs): ratios between them hold exactly.
 * Each write is atomic. PowerSimulator runs one in real time.
 */
export class SimulatedTree {
  private readonly carry = new Map<string, number>();
  private readonly watts = new Map<string, number>();

  constructor(private readonly o: SimulatorOptions) {
    for (const z of o.zones) this.watts.set(z.zone, z.watts);
  }

  /** From now on, `zone` draws `watts`. */
  setWatts(zone: string, watts: number): void {
    this.watts.set(zone, watts);
  }

  /** Whole units to add now for a fractional rate, keeping the remainder. */
  private take(key: string, amount: number): number {
    const total = (this.carry.get(key) ?? 0) + amount;
    const whole = Math.floor(total);
    this.carry.set(key, total - whole);
    return whole;
  }

  /** Adds `dt` seconds of power and CPU time to the tree. */
  advance(dt: number): void {
    const writes: [string, string][] = [];
    for (const [zone, watts] of this.watts) {
      const z = { zone, watts };
      const uj = this.take(`z:${z.zone}`, z.watts * dt * 1e6);
      if (uj <= 0) continue;
      const dir = join(this.o.powercapRoot, z.zone);
      const cur = parseUj(readFileSync(join(dir, "energy_uj"), "utf8")) ?? 0;
      let max: number | null = null;
      try {
        max = parseUj(readFileSync(join(dir, "max_energy_range_uj"), "utf8"));
      } catch {
        max = null;
      }
      const next = max !== null && max > 0 ? (cur + uj) % max : cur + uj;
      writes.push([join(dir, "energy_uj"), `${next}\n`]);
    }
    if (this.o.procRoot) {
      const hz = this.o.clockTicks ?? 100;
      let busy = 0;
      for (const p of this.o.processes ?? []) {
        const t = this.take(`p:${p.pid}`, p.cpus * dt * hz);
        if (t <= 0) continue;
        busy += t;
        const file = join(this.o.procRoot, String(p.pid), "stat");
        const text = readFileSync(file, "utf8");
        const close = text.lastIndexOf(")");
        const f = text
          .slice(close + 2)
          .trim()
          .split(" ");
        f[UTIME_FIELD - 3] = String(Number(f[UTIME_FIELD - 3]) + t);
        writes.push([file, `${text.slice(0, close + 1)} ${f.join(" ")}\n`]);
      }
      busy += this.take("extra", (this.o.extraBusyCpus ?? 0) * dt * hz);
      if (busy > 0) {
        const file = join(this.o.procRoot, "stat");
        const lines = readFileSync(file, "utf8")
          .split("\n")
          .map((l) => {
            if (!/^cpu0?\s/.test(l)) return l;
            const f = l.trim().split(/\s+/);
            f[1] = String(Number(f[1]) + busy);
            return f[0] === "cpu" ? `cpu  ${f.slice(1).join(" ")}` : f.join(" ");
          });
        writes.push([file, lines.join("\n")]);
      }
    }
    // All computed first, then all written back to back.
    for (const [file, text] of writes) replaceFile(dirname(file), basename(file), text);
  }
}

/**
 * Advances a fixture tree in real time (a SimulatedTree every 10 ms), on a
 * worker thread: a test that blocks its own event loop (a synchronous virsh
 * save, a busy step) never stalls the simulated host's counters, which would
 * then catch up in one jump, a burst no RAPL counter makes. A reader of the
 * tree sees a known power, however the test's thread is busy.
 */
export class PowerSimulator {
  private worker: Worker | null = null;

  constructor(private readonly o: SimulatorOptions) {}

  start(): void {
    this.worker = new Worker(new URL("./simulator-worker.js", import.meta.url), { workerData: this.o });
    this.worker.unref(); // a test that forgets stop() still ends
  }

  /** From now on, `zone` draws `watts` (a power that steps up and down). */
  setWatts(zone: string, watts: number): void {
    this.worker?.postMessage({ zone, watts });
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
