/**
 * The soak's checker: from what the hosts' daemons sent (their status files)
 * and what each guest printed (its agent's applied lines and reports, a
 * third-party-style reader of its tree), whether every invariant held, and
 * a table of what happened. Pure: the soak feeds it, its unit tests feed it
 * synthetic runs.
 *
 * Invariants:
 * - no spike: each report of a guest's agent is at most the highest power
 *   the hosts attributed to that VM over the report's interval, + 2 %; the
 *   third-party reader (its own clock, its own period) at most that + 5 %;
 * - conservation: each VM's guest counter is the sum of what the daemons
 *   attributed to it, less each epoch's loss (what came after the last line
 *   the guest applied), each loss at most one step of that VM's energy
 *   (beyond what came while its agent was down), and said with its cause;
 * - monotonic: no guest counter, and no reading of the tree, ever goes back
 *   within a boot;
 * - live: after every event, each running guest applies a fresh line within
 *   3 steps (of the event's end, of its agent being back, or of the end of
 *   another event still going on by then);
 * - bounded: the daemons' RSS and open descriptors stop growing after
 *   warm-up.
 */

import type { SentLine, AppliedLine, GuestReport, ReaderSample, SoakRun, Breach, Loss, SoakVerdict } from "./run.js";

/** A line's power (µW): its gain over the time since the line before it in its epoch (one step for an epoch's first). */
interface LinePower {
  vm: string;
  fromS: number;
  toS: number;
  uw: number;
  gainUj: number;
}

function linePowers(lines: readonly SentLine[]): LinePower[] {
  const out: LinePower[] = [];
  const byEpoch = new Map<string, SentLine[]>();
  for (const l of lines) {
    const k = `${l.host}/${l.vm}/${l.epoch}`;
    if (!byEpoch.has(k)) byEpoch.set(k, []);
    byEpoch.get(k)!.push(l);
  }
  for (const ls of byEpoch.values()) {
    ls.sort((a, b) => a.seq - b.seq);
    ls.forEach((l, i) => {
      const before = ls[i - 1];
      if (!before && l.seq !== 1) return; // its epoch's start unseen: the time it covers is unknown
      const fromS = before ? before.tS : l.tS - l.stepS;
      const gainUj = before ? l.uj - before.uj : l.uj;
      if (l.tS > fromS) out.push({ vm: l.vm, fromS, toS: l.tS, uw: (gainUj / (l.tS - fromS)) * 1, gainUj });
    });
  }
  return out;
}

/**
 * The highest power the hosts together attributed to `vm` at any moment of
 * [fromS, toS] (µW), or null when no line covers any of it. Lines of
 * different epochs that cover the same host time add up: in a live
 * migration the source's and the destination's qemu both draw for the VM,
 * each host attributes its own, and the guest counts both.
 */
function highest(powers: readonly LinePower[], vm: string, fromS: number, toS: number): number | null {
  const over = powers.filter((p) => p.vm === vm && p.toS > fromS && p.fromS < toS);
  if (over.length === 0) return null;
  // The sum is a step function that changes only where a line begins: its highest is at one of those (or at fromS).
  let hi = 0;
  for (const x of [fromS, ...over.map((p) => p.fromS).filter((s) => s > fromS)]) {
    const at = over.reduce((sum, p) => (p.fromS <= x && p.toS > x ? sum + p.uw : sum), 0);
    hi = Math.max(hi, at);
  }
  return hi;
}

const byTime = <T extends { seenMs: number }>(xs: readonly T[]): T[] => [...xs].sort((a, b) => a.seenMs - b.seenMs);

/**
 * The host time the tree's frames between two it showed (at host times
 * `fromS` and `toS`) can stand for: each line's energy is spread over the
 * span since the line before it that the guest applied, so from the last
 * line applied at or before `fromS` to the first at or after `toS` (where
 * lines were dropped, a suspended guest's, one span holds several steps).
 */
function spanAround(applied: readonly AppliedLine[], vm: string, fromS: number, toS: number): [number, number] {
  let lo = fromS;
  let hi = toS;
  let before = -Infinity;
  let after = Infinity;
  for (const a of applied) {
    if (a.vm !== vm) continue;
    if (a.tS <= fromS && a.tS > before) before = a.tS;
    if (a.tS >= toS && a.tS < after) after = a.tS;
  }
  if (before > -Infinity) lo = before;
  if (after < Infinity) hi = after;
  return [lo, hi];
}

export function checkSoak(run: SoakRun): SoakVerdict {
  const breaches: Breach[] = [];
  const powers = linePowers(run.lines);
  const step = run.stepS;

  // No spike: the agent's reports (their interval: since the report before, in the same run of the agent).
  let worstReportRatio = 0;
  let checkedReports = 0;
  let checkedWindows = 0;
  const series = new Map<string, GuestReport[]>();
  for (const r of run.reports) {
    const k = `${r.vm}/${r.boot}/${r.run}`;
    if (!series.has(k)) series.set(k, []);
    series.get(k)!.push(r);
  }
  for (const rs of series.values()) {
    for (let i = 1; i < rs.length; i++) {
      const r = rs[i]!;
      const hi = highest(powers, r.vm, rs[i - 1]!.tS, r.tS);
      if (hi === null || hi <= 0) continue;
      checkedReports++;
      worstReportRatio = Math.max(worstReportRatio, r.uw / hi);
      if (r.uw > 1.02 * hi + 1e5)
        breaches.push({
          invariant: "no spike",
          vm: r.vm,
          atMs: r.tS * 1000,
          what: `a report of ${(r.uw / 1e6).toFixed(2)} W at ${r.tS}, where the hosts attributed at most ${(hi / 1e6).toFixed(2)} W over its interval`,
        });
    }
  }

  // No spike for the third-party reader: its window in host time (as the soak saw its readings, give or take a
  // poll), reaching back two steps (the tree shows each step over the next one).
  let worstReaderRatio = 0;
  let worstLagS = 0;
  const readerSeries = new Map<string, ReaderSample[]>();
  for (const s of run.reader) {
    const k = `${s.vm}/${s.boot}`;
    if (!readerSeries.has(k)) readerSeries.set(k, []);
    readerSeries.get(k)!.push(s);
  }
  for (const ss of readerSeries.values()) {
    const sorted = byTime(ss);
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1]!;
      const b = sorted[i]!;
      if (b.uj < a.uj) breaches.push({ invariant: "monotonic", vm: b.vm, atMs: b.seenMs, what: `the tree read ${b.uj} µJ after ${a.uj} µJ (boot ${b.boot})` });
      const dt = b.upS - a.upS;
      if (!(dt > 0)) continue;
      const uw = (b.uj - a.uj) / dt;
      // The tree shows each step a step late, and after an absence later still (played back 1.5 % fast until
      // it caught up): the host times it says it shows (its mtimes), or else its lag's worst bound.
      const awayS = run.agentDown
        .filter((d) => d.vm === b.vm && d.toMs <= a.seenMs && d.toMs > a.seenMs - 600_000)
        .reduce((s, d) => s + (d.toMs - d.fromMs) / 1000, 0);
      // Within a span that no line divides (an absence, lines dropped), the tree spreads the span's energy
      // evenly: judged against the highest power over the whole span it shows.
      let window: [number, number] = [a.seenMs / 1000 - 2 * step - awayS - 0.5, b.seenMs / 1000 + 0.5];
      if (a.shownS !== undefined && b.shownS !== undefined) {
        const [lo, hi] = spanAround(run.applied, b.vm, a.shownS, b.shownS);
        window = [Math.min(lo, a.shownS - step), Math.max(hi, b.shownS + step)];
      }
      if (b.shownS !== undefined) worstLagS = Math.max(worstLagS, b.seenMs / 1000 - b.shownS);
      const hi = highest(powers, b.vm, window[0], window[1]);
      if (hi === null || hi <= 0) continue;
      checkedWindows++;
      worstReaderRatio = Math.max(worstReaderRatio, uw / hi);
      if (uw > 1.05 * hi + 1e5)
        breaches.push({
          invariant: "no spike",
          vm: b.vm,
          atMs: b.seenMs,
          what: `the third-party reader read ${(uw / 1e6).toFixed(2)} W over ${dt.toFixed(2)} s, where the hosts attributed at most ${(hi / 1e6).toFixed(2)} W`,
        });
    }
  }

  // Monotonic, and conservation, per VM and boot: the guest's counter after each line it applied is the sum over
  // epochs of the last value it applied from each (a boot starts from nothing: its first line adds its epoch's
  // value, energy since the epoch began; an agent that restarts within a boot continues from its state).
  const losses: Loss[] = [];
  const energy: SoakVerdict["energy"] = [];
  const sentOf = new Map(run.lines.map((l) => [`${l.vm}/${l.epoch}/${l.seq}`, l]));
  const vms = [...new Set([...run.lines.map((l) => l.vm), ...run.applied.map((a) => a.vm)])].sort();
  for (const vm of vms) {
    const applied = byTime(run.applied.filter((a) => a.vm === vm));
    // what the guest counted of each epoch: the last value it applied (a boot after a reset starts an epoch it
    // knew over from its value: counted once)
    const countedOf = new Map<string, number>();
    for (const a of applied) {
      const sent = sentOf.get(`${vm}/${a.epoch}/${a.seq}`);
      if (sent) countedOf.set(a.epoch, Math.max(countedOf.get(a.epoch) ?? 0, sent.uj));
    }
    const countedUj = [...countedOf.values()].reduce((x, v) => x + v, 0);
    for (const boot of [...new Set(applied.map((a) => a.boot))]) {
      const inBoot = applied.filter((a) => a.boot === boot);
      const last = new Map<string, number>();
      let prev = -1;
      const unknown = new Set<string>(); // epochs whose last applied line no status file showed (a missed poll)
      for (const a of inBoot) {
        if (a.counterUj < prev)
          breaches.push({
            invariant: "monotonic",
            vm,
            atMs: a.seenMs,
            what: `the guest's counter went from ${prev} to ${a.counterUj} µJ (epoch ${a.epoch} seq ${a.seq}, boot ${boot})`,
          });
        prev = a.counterUj;
        const sent = sentOf.get(`${vm}/${a.epoch}/${a.seq}`);
        if (!sent) {
          unknown.add(a.epoch); // until a line of its that a status file showed
          continue;
        }
        unknown.delete(a.epoch);
        last.set(a.epoch, sent.uj);
        const expected = [...last.values()].reduce((x, v) => x + v, 0);
        if (unknown.size === 0 && Math.abs(a.counterUj - expected) > 1) {
          breaches.push({
            invariant: "conservation",
            vm,
            atMs: a.seenMs,
            what: `after epoch ${a.epoch} seq ${a.seq} the guest counts ${a.counterUj} µJ where the lines it applied add up to ${expected} µJ`,
          });
        }
      }
    }
    // Each epoch's loss: its final counter less the last of its lines the guest applied (in its last boot that saw it).
    let sentUj = 0;
    for (const epoch of [...new Set(run.lines.filter((l) => l.vm === vm).map((l) => l.epoch))]) {
      const ls = run.lines.filter((l) => l.vm === vm && l.epoch === epoch).sort((a, b) => a.seq - b.seq);
      const final = ls[ls.length - 1]!;
      sentUj += final.uj;
      if (final.tS * 1000 > run.nowMs - 10_000) continue; // still going: its lines may yet come
      const lastApplied = applied.filter((a) => a.epoch === epoch).reduce((m, a) => Math.max(m, a.seq), 0);
      const got = lastApplied > 0 ? ls.filter((l) => l.seq <= lastApplied).reduce((m, l) => Math.max(m, l.uj), 0) : 0;
      const lossUj = final.uj - got;
      if (lossUj <= 0) continue;
      const stepUj = Math.max(...ls.map((l, i) => (i > 0 ? l.uj - ls[i - 1]!.uj : l.seq === 1 ? l.uj : 0)));
      const endMs = final.tS * 1000;
      const causes = run.events.filter((e) => e.startMs <= endMs + 3 * step * 1000 && e.endMs >= endMs - 3 * step * 1000).map((e) => `${e.type} ${e.target}`);
      losses.push({ vm, epoch, uj: lossUj, stepUj, causes });
      // What came while the agent was down cannot be applied: allowed, beyond one step.
      const downS = run.agentDown
        .filter((d) => d.vm === vm && d.toMs >= endMs - 60_000 && d.fromMs <= endMs)
        .reduce((s, d) => s + (Math.min(d.toMs, endMs) - d.fromMs) / 1000, 0);
      const allowed = stepUj * (1.05 + downS / step);
      if (lossUj > allowed)
        breaches.push({
          invariant: "conservation",
          vm,
          atMs: endMs,
          what: `epoch ${epoch} lost ${lossUj} µJ, more than one step (${stepUj} µJ)${downS > 0 ? ` and the ${downS.toFixed(1)} s its agent was down` : ""}; around: ${causes.join(", ") || "no event"}`,
        });
    }
    energy.push({ vm, sentUj, countedUj });
  }

  // Live: after each event, each VM that runs applies a line within 3 steps of the event's end, or of its agent being
  // back, or of the end of an event that was still going on by then (a flood that ends while the port is unplugged
  // is live again once the port is back: that other event's end is the one to wait from).
  const grace = 3 * step * 1000;
  for (const e of run.events) {
    for (const vm of run.vms) {
      let from = e.endMs;
      for (let moved = true; moved;) {
        const later = [
          ...run.agentDown.filter((d) => d.vm === vm && d.toMs > from && d.fromMs <= from + grace).map((d) => d.toMs),
          ...run.events.filter((o) => o.endMs > from && o.startMs <= from + grace).map((o) => o.endMs),
        ];
        const next = Math.max(from, ...later);
        moved = next > from;
        from = next;
      }
      const deadline = from + grace + 1000;
      const later = run.applied.some((a) => a.vm === vm && a.seenMs > from && a.seenMs <= deadline);
      const runEnd = Math.max(0, ...run.applied.map((a) => a.seenMs));
      if (!later && deadline < runEnd)
        breaches.push({
          invariant: "live",
          vm,
          atMs: deadline,
          what: `no line applied within ${3 * step} s after ${e.type} ${e.target} ended${from > e.endMs ? ` (and after what followed it, until ${new Date(from).toISOString()})` : ""}`,
        });
    }
  }

  // Bounded: the last third's typical (median) RSS and fds no more than the middle third's, with room for noise.
  // A leak raises the typical level; a descriptor or two per VM that comes and goes (a VM migrated in, a channel
  // reconnecting, a daemon restarted) does not, and the highest of a third would take it for one.
  const resources: SoakVerdict["resources"] = [];
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  for (const host of [...new Set(run.daemons.map((d) => d.host))].sort()) {
    const ds = run.daemons.filter((d) => d.host === host).sort((a, b) => a.ms - b.ms);
    const thirds = [0, 1, 2].map((k) => ds.filter((_, i) => Math.floor((3 * i) / ds.length) === k));
    const rss = thirds.map((t) => Math.max(0, ...t.map((d) => d.rssBytes)) / 2 ** 20);
    const fds = thirds.map((t) => Math.max(0, ...t.map((d) => d.fds)));
    const typicalRss = thirds.map((t) => median(t.map((d) => d.rssBytes)) / 2 ** 20);
    const typicalFds = thirds.map((t) => median(t.map((d) => d.fds)));
    resources.push({ host, rssMiB: rss, fds });
    if (ds.length >= 9 && typicalRss[2]! > typicalRss[1]! + 16)
      breaches.push({
        invariant: "bounded",
        vm: null,
        atMs: ds[ds.length - 1]!.ms,
        what: `daemon ${host}: RSS ${typicalRss.map((r) => r.toFixed(0)).join(" -> ")} MiB (median; highest ${rss.map((r) => r.toFixed(0)).join(" -> ")}) over the run's thirds`,
      });
    if (ds.length >= 9 && typicalFds[2]! > typicalFds[1]! + 8)
      breaches.push({
        invariant: "bounded",
        vm: null,
        atMs: ds[ds.length - 1]!.ms,
        what: `daemon ${host}: ${typicalFds.join(" -> ")} open descriptors (median; highest ${fds.join(" -> ")}) over the run's thirds`,
      });
  }

  const eventTypes = [...new Set(run.events.map((e) => e.type))].sort().map((type) => {
    const ls = losses.filter((l) => l.causes.some((c) => c.startsWith(`${type} `)));
    return {
      type,
      count: run.events.filter((e) => e.type === type).length,
      lossUj: ls.reduce((s, l) => s + l.uj, 0),
      lossSteps: ls.reduce((s, l) => s + l.uj / Math.max(1, l.stepUj), 0),
    };
  });
  return {
    breaches,
    losses,
    worstReportRatio,
    worstReaderRatio,
    worstLagS,
    checked: { reports: checkedReports, readerWindows: checkedWindows },
    energy,
    eventTypes,
    resources,
  };
}

/** The verdict as a table (Markdown), for the soak's end and docs/accuracy.md. */
export function verdictTable(v: SoakVerdict, stepS: number): string {
  const j = (uj: number): string => (uj / 1e6).toFixed(2);
  const out: string[] = [];
  out.push("| event | count | energy lost (J) | in steps |", "| --- | ---: | ---: | ---: |");
  for (const e of v.eventTypes) out.push(`| ${e.type} | ${e.count} | ${j(e.lossUj)} | ${e.lossSteps.toFixed(2)} |`);
  out.push("", "| VM | attributed (J) | counted by the guest (J) |", "| --- | ---: | ---: |");
  for (const e of v.energy) out.push(`| ${e.vm} | ${j(e.sentUj)} | ${j(e.countedUj)} |`);
  out.push(
    "",
    `Highest report / attributed power: agent ${v.worstReportRatio.toFixed(3)} (over ${v.checked.reports} reports), third-party reader ${v.worstReaderRatio.toFixed(3)} (over ${v.checked.readerWindows} windows; step ${stepS} s). The tree showed the host's energy at most ${v.worstLagS.toFixed(1)} s late.`,
    "",
  );
  out.push("| daemon | RSS MiB (thirds) | open fds (thirds) |", "| --- | --- | --- |");
  for (const r of v.resources) out.push(`| ${r.host} | ${r.rssMiB.map((x) => x.toFixed(0)).join(" / ")} | ${r.fds.join(" / ")} |`);
  return out.join("\n");
}
