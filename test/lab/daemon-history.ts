/** A `scaph-host qemu` daemon's view over time, read from its status file by polling (the labs). */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { TreeHistory } from "./accuracy.js";
import { sleep } from "../helpers/processes.js";

export interface DaemonStatusFile {
  timestamp_s: number;
  step_s: number;
  steps: number;
  vms: {
    name: string;
    power_uw: number;
    channel?: { connected: boolean; sent: number; dropped: number; epoch: string; seq: number; counters: Record<string, number> };
  }[];
  incoming?: { name: string; uuid: string | null; pid: number }[];
}

/** One line the daemon wrote (or dropped) for the VM: its counters (package + dram, µJ) and the step it closed. */
export interface SentLine {
  uj: number;
  /** Per zone (µJ): the tree's files are written one after another. */
  zonesUj: number[];
  /** The interval of the step (s). */
  stepS: number;
  /** The daemon's step count when it wrote it. */
  step: number;
  hostMs: number;
}

export class DaemonHistory {
  /** Host ms of each step seen. */
  readonly steps: number[] = [];
  /** The daemon's step counts, with the host ms of each status seen. */
  readonly counts: { step: number; hostMs: number }[] = [];
  /** Per epoch, the counters as sent (host ms of the status write). */
  readonly epochs = new Map<string, TreeHistory>();
  /** Per epoch, its lines by sequence number. */
  readonly bySeq = new Map<string, Map<number, SentLine>>();
  /** The first step (count) at which the VM was on its way in, if ever. */
  firstIncomingStep: number | null = null;
  /** Status files seen with the VM on its way in. */
  incomingSeen = 0;
  /** The statuses that show the VM's channel connected with a line sent. */
  private readonly sent: { step: number; hostMs: number }[] = [];
  last: DaemonStatusFile | null = null;

  constructor(
    readonly vm: string,
    /** The zones whose sum is the VM's energy as the guest's probes read it (package + dram). */
    private readonly zones: readonly string[] = ["intel-rapl:0", "intel-rapl:0:2"],
  ) {}

  add(s: DaemonStatusFile): void {
    const ms = s.timestamp_s * 1000;
    if (this.steps.length && this.steps[this.steps.length - 1]! >= ms) return;
    this.last = s;
    this.steps.push(ms);
    this.counts.push({ step: s.steps, hostMs: ms });
    if (s.incoming?.some((v) => v.name === this.vm)) {
      this.incomingSeen++;
      this.firstIncomingStep ??= s.steps;
    }
    const c = s.vms.find((v) => v.name === this.vm)?.channel;
    if (!c) return;
    if (c.connected && c.sent > 0) this.sent.push({ step: s.steps, hostMs: ms });
    let h = this.epochs.get(c.epoch);
    if (!h) this.epochs.set(c.epoch, (h = new TreeHistory()));
    const uj = this.zones.reduce((a, z) => a + (c.counters[z] ?? 0), 0);
    h.add({ hostMs: ms, uj });
    if (!this.bySeq.has(c.epoch)) this.bySeq.set(c.epoch, new Map());
    this.bySeq.get(c.epoch)!.set(c.seq, { uj, zonesUj: this.zones.map((z) => c.counters[z] ?? 0), stepS: s.step_s, step: s.steps, hostMs: ms });
  }

  /** The daemon's step count at host time `ms` (the last status at or before it), or 0. */
  stepAt(ms: number): number {
    let n = 0;
    for (const c of this.counts) if (c.hostMs <= ms) n = c.step;
    return n;
  }

  /** The epochs whose first line came after host time `ms`. */
  epochsSince(ms: number): string[] {
    return [...this.bySeq].filter(([, ls]) => Math.min(...[...ls.values()].map((l) => l.hostMs)) > ms).map(([e]) => e);
  }

  /** The first status after host time `ms` that shows the VM's channel connected with a line sent. */
  firstSentAfter(ms: number): { step: number; hostMs: number } | null {
    return this.sent.find((x) => x.hostMs > ms) ?? null;
  }
}

/** Polls a daemon's status file every 100 ms into `history` until stop(). */
export function pollStatus(base: string, history: DaemonHistory): { stop(): Promise<void> } {
  let polling = true;
  const loop = (async () => {
    while (polling) {
      const s = JSON.parse(await readFile(join(base, ".scaph-status.json"), "utf8").catch(() => "null")) as DaemonStatusFile | null;
      if (s) history.add(s);
      await sleep(100);
    }
  })();
  return {
    async stop() {
      polling = false;
      await loop;
    },
  };
}
