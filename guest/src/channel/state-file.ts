import { join } from "node:path";
import { readdirSync } from "node:fs";
import { counterDelta, errorMessage, isCounterReset, parseUj, readBounded, replaceFile, ZONE_ID_RE, ZONE_NAME_RE } from "@scaph/common";
import type { Logger } from "@scaph/common";

/** The receiver's own memory, beside the tree it keeps: where each counter stands, and the host's last line. */
export const CHANNEL_STATE_FILE = ".scaph-channel.json";

/**
 * Zones the guest's tree may hold. A real host has a package and a few
 * sub-domains per socket (a line carries at most 16 zones): a host that
 * names new zones at every line gets no more than this, so the tree, the
 * state file (read back at most 64 KiB) and the work per line stay small.
 */
export const MAX_TREE_ZONES = 32;
/**
 * Epochs remembered: the current one, the one before (a migration's source),
 * and many more, so that lines of an epoch seen before never count again
 * as a new epoch's (five epochs in rotation once counted 30 J for 15 J);
 * the state file stays a few KiB.
 */
export const MAX_EPOCHS = 64;
/**
 * Commits remembered for a tree that runs late (those it has not shown yet, at most MAX_RECENT, RECENT_S of host
 * time): a receiver that restarts plays them on. A tree that keeps up keeps one or two.
 */
export const MAX_RECENT = 600;
export const RECENT_S = 600;
/** The longest state file read back: MAX_EPOCHS epochs and MAX_RECENT commits of MAX_TREE_ZONES zones fit. */
const STATE_BOUND = 2 * 1024 * 1024;

/** One zone of the guest's tree. */
export interface GuestZone {
  zone: string;
  name: string;
  /** The guest's counter (what its tree's energy_uj holds once shown), wrapping at max. */
  value: number;
  max: number;
}

/** Where one of the host's epochs stands: its last line applied. */
export interface EpochState {
  epoch: string;
  seq: number;
  /** The host's time of that line (Unix s). */
  t: number;
  /** The host's counters in that line, by zone. */
  host: Record<string, number>;
}

/** The receiver's counters, as its state file keeps them. */
export interface ChannelState {
  /** The epoch of the last line applied. */
  epoch: string | null;
  /** The host's time of the last line applied (Unix s). */
  t: number;
  /**
   * The guest's power clock (s): the sum of the host time each applied line
   * covers. It only goes forward, whatever the hosts' clocks do (a
   * migration between hosts whose clocks differ, a clock stepped back),
   * so power over it is never above what the host sent for that time.
   */
  clockS: number;
  /**
   * The counters after each of the last commits, with the host time of their
   * last line: what the tree has still to show, when it runs late. A
   * receiver that starts again plays the tree on through them from where it
   * stands, step by step as they came, not as one even span.
   */
  recent: { t: number; zones: Record<string, number> }[];
  /** The most recent epochs (MAX_EPOCHS, the last used last), so lines of two epochs that overlap (a live migration's hand-off) count once each. */
  epochs: EpochState[];
  zones: Record<string, GuestZone>;
}

export const emptyState = (): ChannelState => ({ epoch: null, t: 0, clockS: 0, recent: [], epochs: [], zones: {} });

/** The state file of an earlier run (the agent restarted): counters continue from it; an empty state if there is none or it is unreadable. */
export function loadState(tree: string, log: Logger): ChannelState {
  const file = join(tree, CHANNEL_STATE_FILE);
  const r = readBounded(file, STATE_BOUND);
  if (!r.ok) return emptyState();
  try {
    const s = parseState(JSON.parse(r.text));
    log.info(`channel: continuing from ${file} (epoch ${s.epoch})`);
    return s;
  } catch (err) {
    log.warn(`channel: ${file} unreadable (${errorMessage(err)}): counters start anew`);
    return emptyState();
  }
}

/** Writes the state file (atomically); a failure is logged, the counters stay in memory. */
export function saveState(tree: string, state: ChannelState, log: Logger): void {
  try {
    replaceFile(tree, CHANNEL_STATE_FILE, JSON.stringify(state) + "\n");
  } catch (err) {
    log.warn(`channel: cannot write ${CHANNEL_STATE_FILE} in ${tree}: ${errorMessage(err)} (kept in memory)`);
  }
}

/**
 * The tree as it stands may be ahead of the state file (a state write that
 * failed, a state file lost, another receiver before the lock): each
 * counter continues from whichever is ahead, so that no receiver ever
 * writes a counter below the last one written. The tree is read as
 * untrusted: a zone id and name as a host would send them, a number below
 * the zone's max; a counter further ahead than half its range is not
 * taken (a tree rewritten from elsewhere, not a continuation).
 */
export function catchUpWithTree(state: ChannelState, tree: string, log: Logger): void {
  let entries: string[];
  try {
    entries = readdirSync(tree)
      .filter((e) => ZONE_ID_RE.test(e))
      .slice(0, MAX_TREE_ZONES);
  } catch {
    return;
  }
  for (const zone of entries) {
    const text = (f: string): string | null => {
      const r = readBounded(join(tree, zone, f), 128);
      return r.ok ? r.text.trim() : null;
    };
    const value = parseUj(text("energy_uj") ?? "");
    const known = state.zones[zone];
    const max = known?.max ?? parseUj(text("max_energy_range_uj") ?? "");
    const name = known?.name ?? text("name");
    if (value === null || max === null || max <= 0 || value >= max || name === null || !ZONE_NAME_RE.test(name)) continue;
    if (!known && Object.keys(state.zones).length >= MAX_TREE_ZONES) continue;
    const ahead = known ? counterDelta(known.value, value, max) : value;
    if (ahead <= 0 || (known && isCounterReset(known.value, value, max)) || (known && ahead > max / 2)) continue;
    state.zones[zone] = { zone, name, max, value };
    log.info(
      `channel: ${zone} in ${tree} stands at ${value} µJ, ahead of ${known ? `the state file's ${known.value}` : "a state file that does not know it"}: continuing from the tree`,
    );
  }
}

/**
 * The tree as readers see it now (an earlier run's last frame), where every
 * zone of the state reads back, at most the state's counter: the frames go
 * on from there. Its host time is the files' modification time.
 */
export function treeFrame(state: ChannelState, tree: string): { values: Map<string, number>; tS: number } | null {
  const values = new Map<string, number>();
  let ms = 0;
  for (const z of Object.values(state.zones)) {
    const r = readBounded(join(tree, z.zone, "energy_uj"), 64);
    const v = r.ok ? parseUj(r.text) : null;
    if (!r.ok || v === null || v >= z.max || counterDelta(v, z.value, z.max) > z.max / 2) return null;
    values.set(z.zone, v);
    ms = Math.max(ms, r.mtimeMs);
  }
  return values.size > 0 ? { values, tS: ms / 1000 } : null;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isTime = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;
const isCounters = (v: unknown): v is Record<string, number> => typeof v === "object" && v !== null && Object.values(v).every(isCount);

/** A state file's content, checked (it lives in the guest's own tmpfs, but is read as untrusted); throws if it is not one. The format before epochs were kept (epoch, t, host) is read too. */
function parseState(j: unknown): ChannelState {
  const s = j as Partial<ChannelState> & { host?: unknown };
  const zonesOk =
    typeof s.zones === "object" &&
    s.zones !== null &&
    Object.values(s.zones).every(
      (z: GuestZone) => isCount(z.value) && isCount(z.max) && z.max > 0 && z.value < z.max && typeof z.name === "string" && typeof z.zone === "string",
    );
  if (!(typeof s.epoch === "string" || s.epoch === null) || !isTime(s.t) || !zonesOk || Object.keys(s.zones as object).length > MAX_TREE_ZONES)
    throw new Error("unexpected content");
  const epochs: EpochState[] = Array.isArray(s.epochs)
    ? s.epochs.filter((e: EpochState) => typeof e?.epoch === "string" && isCount(e.seq) && isTime(e.t) && isCounters(e.host)).slice(-MAX_EPOCHS)
    : s.epoch !== null && isCounters(s.host)
      ? [{ epoch: s.epoch, seq: 0, t: s.t, host: s.host }]
      : [];
  const clockS = isTime(s.clockS) ? s.clockS : 0;
  const recent = Array.isArray(s.recent) ? s.recent.filter((p) => isTime(p?.t) && isCounters(p?.zones)).slice(-MAX_RECENT) : [];
  return { epoch: s.epoch ?? null, t: s.t, clockS, recent, epochs, zones: s.zones as Record<string, GuestZone> };
}
