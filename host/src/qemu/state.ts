import { readBounded, replaceFile, errorMessage } from "@scaph/common";
import type { Logger } from "@scaph/common";

/**
 * The daemon's own memory of each VM's counters, in `<base>/.scaph-state.json`.
 * The base dir is the host's; only `<base>/<vm>/` is shared with a guest. A
 * restarted daemon continues each counter from here, never from the VM's
 * tree, which a guest may have written.
 */
export const STATE_FILE = ".scaph-state.json";
/** Largest state file read (about 20,000 VMs). */
export const STATE_BOUND = 4 * 1024 * 1024;

/** Counters of one VM by zone id (`intel-rapl:0`...), µJ, as the tree should hold them. */
export type VmCounters = Map<string, number>;

interface StateFile {
  v: 1;
  vms: Record<string, { name: string; seen_s: number; zones: Record<string, number> }>;
}

/** How long the counters of a VM that went away are kept (a restored or restarted VM continues them). */
export const KEEP_GONE_S = 86_400;

export class DaemonState {
  private readonly vms = new Map<string, { name: string; seenS: number; zones: VmCounters }>();

  private constructor(
    readonly baseDir: string,
    private readonly log: Logger,
  ) {}

  /** Loads the state, or starts empty (saying why) when there is none or it is unreadable. */
  static load(baseDir: string, log: Logger): DaemonState {
    const s = new DaemonState(baseDir, log);
    const file = `${baseDir}/${STATE_FILE}`;
    const r = readBounded(file, STATE_BOUND);
    if (!r.ok) {
      if (r.why !== "missing") log.warn(`qemu: ${file} unreadable (${r.why}): VM counters start from 0`);
      return s;
    }
    try {
      const parsed = JSON.parse(Buffer.from(r.text, "latin1").toString("utf8")) as Partial<StateFile>;
      for (const [key, vm] of Object.entries(parsed.vms ?? {})) {
        const zones = new Map<string, number>();
        for (const [z, v] of Object.entries(vm?.zones ?? {})) if (Number.isSafeInteger(v) && v >= 0) zones.set(z, v);
        const seenS = typeof vm?.seen_s === "number" && Number.isFinite(vm.seen_s) ? vm.seen_s : Date.now() / 1000;
        if (typeof vm?.name === "string") s.vms.set(key, { name: vm.name, seenS, zones });
      }
    } catch (err) {
      log.warn(`qemu: ${file} is not valid JSON (${errorMessage(err)}): VM counters start from 0`);
    }
    return s;
  }

  /** The counters of a VM at its last save, if any. */
  counters(key: string): VmCounters | undefined {
    return this.vms.get(key)?.zones;
  }

  set(key: string, name: string, zones: VmCounters, nowS = Date.now() / 1000): void {
    this.vms.set(key, { name, seenS: nowS, zones });
  }

  /** Forgets VMs gone for longer than KEEP_GONE_S, and the oldest beyond `max` entries. */
  prune(max: number, nowS = Date.now() / 1000): void {
    for (const [k, vm] of this.vms) if (nowS - vm.seenS > KEEP_GONE_S) this.vms.delete(k);
    if (this.vms.size <= max) return;
    const oldest = [...this.vms.entries()].sort((a, b) => a[1].seenS - b[1].seenS);
    for (const [k] of oldest.slice(0, this.vms.size - max)) this.vms.delete(k);
  }

  /** Writes the state atomically; false (and a log line, once per error) if it could not. */
  save(): boolean {
    const out: StateFile = { v: 1, vms: {} };
    for (const [k, vm] of this.vms) out.vms[k] = { name: vm.name, seen_s: Math.round(vm.seenS), zones: Object.fromEntries(vm.zones) };
    try {
      replaceFile(this.baseDir, STATE_FILE, JSON.stringify(out) + "\n");
      if (this.failing) this.log.info(`qemu: ${this.baseDir}/${STATE_FILE} written again`);
      this.failing = null;
      return true;
    } catch (err) {
      const msg = errorMessage(err);
      if (msg !== this.failing) this.log.warn(`qemu: cannot write ${this.baseDir}/${STATE_FILE}: ${msg}`);
      this.failing = msg;
      return false;
    }
  }

  private failing: string | null = null;
}
