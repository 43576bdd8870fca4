/**
 * Does a guest's reported energy equal its tree's gain on the host? The
 * guest's report times are in guest time, the tree's writes in host time;
 * probes (a counter the guest read, bracketed by two guest clock readings)
 * pin the offset between the two clocks, since the guest can only have read
 * a value after the host wrote it and before the host replaced it.
 */

/** One write of a VM's tree, as the host saw it: package + dram (µJ) from the package file's mtime (host ms). */
export interface TreeWrite {
  hostMs: number;
  uj: number;
}

/** A counter the guest read between its clock readings g1Ms and g2Ms (guest ms). */
export interface Probe {
  g1Ms: number;
  g2Ms: number;
  uj: number;
}

/** The host's tree over time: a step function of the writes, in host time. */
export class TreeHistory {
  private readonly writes: TreeWrite[] = [];

  /** Records a write seen by polling; a write seen again is ignored. */
  add(w: TreeWrite): void {
    const last = this.writes[this.writes.length - 1];
    if (last && last.hostMs === w.hostMs) return;
    if (last && w.hostMs < last.hostMs) throw new Error(`tree write at ${w.hostMs} ms after one at ${last.hostMs} ms`);
    this.writes.push(w);
  }

  /** The largest gain of one write over the one before (µJ) among the steps that overlap [fromMs, toMs]: one step's worth there. */
  maxStepUj(fromMs = -Infinity, toMs = Infinity): number {
    let m = 0;
    for (let i = 1; i < this.writes.length; i++) {
      const prev = this.writes[i - 1]!;
      const w = this.writes[i]!;
      if (prev.hostMs <= toMs && w.hostMs > fromMs) m = Math.max(m, w.uj - prev.uj);
    }
    return m;
  }

  /** The value in the tree at host time `ms` (NaN before the first write). */
  valueAt(ms: number): number {
    let v = NaN;
    for (const w of this.writes) {
      if (w.hostMs > ms) break;
      v = w.uj;
    }
    return v;
  }

  /** [written, replaced) in host ms of each write holding `uj`. */
  spans(uj: number): { from: number; to: number }[] {
    const out: { from: number; to: number }[] = [];
    this.writes.forEach((w, i) => {
      if (w.uj === uj) out.push({ from: w.hostMs, to: this.writes[i + 1]?.hostMs ?? Infinity });
    });
    return out;
  }
}

/** Bounds (ms) of guest time minus host time, from probes; throws if a probe read a value the host never wrote. */
export function clockOffset(probes: readonly Probe[], tree: TreeHistory): { loMs: number; hiMs: number } {
  let lo = -Infinity;
  let hi = Infinity;
  for (const p of probes) {
    const spans = tree.spans(p.uj);
    if (spans.length === 0) throw new Error(`the guest read ${p.uj} µJ, a value the host never wrote`);
    // The read happened at host time h in [from, to) and guest time in [g1, g2]: offset in (g1 - to, g2 - from].
    const pLo = Math.min(...spans.map((s) => p.g1Ms - s.to));
    const pHi = Math.max(...spans.map((s) => p.g2Ms - s.from));
    lo = Math.max(lo, pLo);
    hi = Math.min(hi, pHi);
  }
  if (!(lo <= hi)) throw new Error(`the probes disagree on the guest's clock offset (${lo} > ${hi} ms)`);
  return { loMs: lo, hiMs: hi };
}

/**
 * How old each value the guest read was (ms): from the host's write of it to
 * the read, mapped to host time with the offset `offsetMs`.
 */
export function readAgesMs(probes: readonly Probe[], tree: TreeHistory, offsetMs: number): number[] {
  return probes.map((p) => {
    const readAt = (p.g1Ms + p.g2Ms) / 2 - offsetMs;
    const written = tree
      .spans(p.uj)
      .filter((s) => s.from <= readAt)
      .pop();
    return written ? readAt - written.from : NaN;
  });
}

/** A JSON report of scaph-guest: its timestamp (guest s) and host power (µW). */
export interface Report {
  ts: number;
  uw: number;
}

/**
 * Energy the guest reported (µJ) over [first report, last report]: Σ power ×
 * interval. The first report only opens the window, since its interval runs
 * from scaph-guest's first reading, whose time the report does not give.
 */
export function reportedEnergy(reports: readonly Report[]): { uj: number; fromS: number; toS: number } {
  if (reports.length < 2) throw new Error(`need two reports, got ${reports.length}`);
  let uj = 0;
  for (let i = 1; i < reports.length; i++) uj += reports[i]!.uw * (reports[i]!.ts - reports[i - 1]!.ts);
  return { uj, fromS: reports[0]!.ts, toS: reports[reports.length - 1]!.ts };
}

/** The tree's gain (µJ) over a guest-time window, mapped to host time with the probes' offset. */
export function treeGain(tree: TreeHistory, fromS: number, toS: number, offsetMs: number): number {
  return tree.valueAt(toS * 1000 - offsetMs) - tree.valueAt(fromS * 1000 - offsetMs);
}
