import { PowercapFixture, ProcFixture } from "./fixtures.js";

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

/**
 * Advances a fixture tree in real time: each zone gains `watts` × elapsed
 * time, each process `cpus` × elapsed × USER_HZ ticks. A reader of the tree
 * then sees a known power. Every write is atomic.
 */
export class PowerSimulator {
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  private readonly power: PowercapFixture;
  private readonly proc: ProcFixture | null;
  private readonly carry = new Map<string, number>();
  private busy: Promise<void> = Promise.resolve();

  constructor(private readonly o: SimulatorOptions) {
    this.power = new PowercapFixture(o.powercapRoot);
    this.proc = o.procRoot ? new ProcFixture(o.procRoot) : null;
  }

  start(): void {
    this.last = performance.now();
    this.timer = setInterval(() => {
      this.busy = this.busy.then(() => this.tick()).catch(() => {});
    }, this.o.periodMs ?? 10);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.busy;
  }

  /** Whole units to add now for a fractional rate, keeping the remainder. */
  private take(key: string, amount: number): number {
    const total = (this.carry.get(key) ?? 0) + amount;
    const whole = Math.floor(total);
    this.carry.set(key, total - whole);
    return whole;
  }

  private async tick(): Promise<void> {
    const now = performance.now();
    const dt = (now - this.last) / 1000;
    this.last = now;
    for (const z of this.o.zones) {
      const uj = this.take(`z:${z.zone}`, z.watts * dt * 1e6);
      if (uj > 0) await this.power.advance(z.zone, uj);
    }
    if (!this.proc) return;
    const hz = this.o.clockTicks ?? 100;
    let busy = 0;
    for (const p of this.o.processes ?? []) {
      const t = this.take(`p:${p.pid}`, p.cpus * dt * hz);
      busy += t;
      if (t > 0) await this.proc.advanceProcess(p.pid, t);
    }
    busy += this.take("extra", (this.o.extraBusyCpus ?? 0) * dt * hz);
    if (busy > 0) await this.proc.advanceBusy(busy);
  }
}
