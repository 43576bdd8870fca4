import { counterDelta, isCounterReset, wrapAdd } from "@scaph/common";
import type { ChannelMessage, Logger } from "@scaph/common";
import { MAX_EPOCHS, MAX_TREE_ZONES } from "./state-file.js";
import type { ChannelState, EpochState } from "./state-file.js";

/** What one line may cover, s: the host's time is trusted, but a bogus one must not freeze the clock (a day). */
const MAX_COVER_S = 86_400;
/**
 * The most power one zone may show, W: above any socket's RAPL domain and any whole host. The host is
 * trusted, but a gain beyond this over the time a line covers (a counter that jumped, a bogus first
 * value) is cut to it and logged: the guest never shows a spike no host could draw.
 */
export const MAX_ZONE_WATTS = 10_000;
/** What a line covers when the host's times cannot tell (no t0, no step): a second. */
const DEFAULT_COVER_S = 1;

/**
 * The host time a line covers, s, in (0, MAX_COVER_S]: since the same
 * epoch's line before it, or for an epoch's first line since the epoch
 * began (`t0`); where the host's clock went back or says nothing, the step.
 */
export function coveredS(m: ChannelMessage, before: EpochState | undefined): number {
  const since = before ? m.t - before.t : m.t0 !== undefined ? m.t - m.t0 : NaN;
  const s = since > 0 ? since : m.step_s > 0 ? m.step_s : DEFAULT_COVER_S;
  return Math.min(s, MAX_COVER_S);
}

/** A line applied: the host time it covers (s), or why it was refused (null: an old or repeated line, nothing to say). */
export type Applied = { coverS: number } | { refused: string | null };

/**
 * Applies a checked message to the counters of `state` (not to the tree).
 * A line of a known epoch adds what that epoch's counters gained since its
 * last line applied (older or repeated lines add nothing); a new epoch's
 * first line adds its value (energy since the epoch began). Each epoch
 * counts once, even while two overlap (a live migration's source and
 * destination). The guest's counter keeps its own wrap point: a host whose
 * max changes cannot send it backwards. `warn` is the receiver's limited
 * warning (a gain cut to MAX_ZONE_WATTS).
 */
export function applyMessage(state: ChannelState, m: ChannelMessage, log: Logger, warn: (msg: string) => void): Applied {
  const before = state.epochs.find((e) => e.epoch === m.epoch);
  if (before && m.seq <= before.seq) return { refused: null }; // an old or repeated line
  const added = m.zones.filter((z) => state.zones[z.zone] === undefined).length;
  if (Object.keys(state.zones).length + added > MAX_TREE_ZONES) return { refused: `more than ${MAX_TREE_ZONES} zones in all` };
  const cover = coveredS(m, before);
  for (const z of m.zones) {
    const prev = state.zones[z.zone];
    const last = before?.host[z.zone];
    let gain: number;
    if (last === undefined)
      gain = z.energy_uj; // a new epoch (or a new zone): its first value
    else {
      // A wrap at the host's max, or a host counter that went back: a reset, not a spike.
      gain = counterDelta(last, z.energy_uj, z.max_energy_range_uj);
      if (isCounterReset(last, z.energy_uj, z.max_energy_range_uj))
        log.warn(`channel: ${z.zone} went back from ${last} to ${z.energy_uj} µJ in epoch ${m.epoch}: no gain counted`);
    }
    const most = Math.round(MAX_ZONE_WATTS * 1e6 * cover);
    if (gain > most) {
      warn(`channel: ${z.zone} gained ${gain} µJ in ${cover} s in epoch ${m.epoch}, above ${MAX_ZONE_WATTS} W: counted as ${most} µJ`);
      gain = most;
    }
    const max = prev?.max ?? z.max_energy_range_uj;
    state.zones[z.zone] = { zone: z.zone, name: z.name, max, value: wrapAdd(prev?.value ?? 0, gain, max) };
  }
  state.clockS += cover;
  if (!before && state.epoch !== null)
    log.info(`channel: new epoch ${m.epoch} (the host's daemon restarted, or this VM was restored or migrated): counters continue`);
  state.epochs = [
    ...state.epochs.filter((e) => e !== before),
    { epoch: m.epoch, seq: m.seq, t: m.t, host: Object.fromEntries(m.zones.map((z) => [z.zone, z.energy_uj])) },
  ].slice(-MAX_EPOCHS);
  state.epoch = m.epoch;
  state.t = m.t;
  if (log.enabled("debug")) {
    const now = m.zones.map((z) => `${z.zone}=${state.zones[z.zone]?.value ?? 0}`).join(" ");
    log.debug(`channel: applied epoch ${m.epoch} seq ${m.seq} t ${m.t}: ${now}`);
  }
  return { coverS: cover };
}
