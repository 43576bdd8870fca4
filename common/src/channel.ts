/**
 * The channel transport's wire format: the host writes one line per step
 * into the VM's virtio-serial port `org.scaph.energy.0`, UTF-8 JSON ending
 * in "\n", at most 4 KiB:
 *
 *   {"v":1,"epoch":"<id>","seq":N,"t":<host unix s>,"t0":<host unix s>,"step_s":S,
 *    "zones":[{"zone":"intel-rapl:0","name":"package-0","energy_uj":E,"max_energy_range_uj":M}, ...]}
 *
 * energy_uj is the VM's cumulative energy since `epoch` began (at `t0`, the
 * start of the first interval it counts), wrapping at max_energy_range_uj
 * like a RAPL counter; `epoch` is new whenever the host starts attributing
 * to the VM (a daemon start, a VM that starts running here: restored,
 * migrated in). `seq` orders one epoch's lines. A lost line loses nothing:
 * the next carries the total. `t0` was added after the first release: a
 * reader takes a line without it (its epoch's first line then covers one
 * step), and an older reader ignores it.
 */
import { MAX_LINE_ZONES, ZONE_ID_RE, ZONE_NAME_RE } from "./powercap/layout.js";

export const CHANNEL_NAME = "org.scaph.energy.0";
export const CHANNEL_VERSION = 1;
/** Longest line, newline included. */
export const CHANNEL_MAX_LINE = 4096;

export interface ChannelZone {
  /** `intel-rapl:0`, `intel-rapl:0:M`. */
  zone: string;
  /** `package-0`, `core`, `dram`... */
  name: string;
  energy_uj: number;
  max_energy_range_uj: number;
}

export interface ChannelMessage {
  v: 1;
  epoch: string;
  seq: number;
  /** The host's time of the reading, Unix seconds. */
  t: number;
  /** When the epoch began (the start of the first interval it counts), host Unix seconds; absent from older hosts. */
  t0?: number;
  step_s: number;
  zones: ChannelZone[];
}

const EPOCH_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** Host times past this (the year 5138) are no clock's: refused. */
const MAX_TIME_S = 1e11;

/** The line for a message (with its newline); throws if it would not fit in CHANNEL_MAX_LINE. */
export function encodeMessage(m: ChannelMessage): string {
  const line = JSON.stringify(m) + "\n";
  if (Buffer.byteLength(line) > CHANNEL_MAX_LINE) throw new Error(`channel line of ${Buffer.byteLength(line)} bytes, above ${CHANNEL_MAX_LINE}`);
  return line;
}

const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

/**
 * Parses and checks one line (without its newline). Everything is untrusted:
 * anything that is not exactly the format above is refused, with the reason.
 */
export function parseMessage(line: string): { ok: true; message: ChannelMessage } | { ok: false; why: string } {
  if (line.length >= CHANNEL_MAX_LINE) return { ok: false, why: "line too long" };
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch {
    return { ok: false, why: "not JSON" };
  }
  if (typeof m !== "object" || m === null) return { ok: false, why: "not an object" };
  const o = m as Record<string, unknown>;
  if (o.v !== CHANNEL_VERSION) return { ok: false, why: `version ${JSON.stringify(o.v)}, not ${CHANNEL_VERSION}` };
  if (typeof o.epoch !== "string" || !EPOCH_RE.test(o.epoch)) return { ok: false, why: "bad epoch" };
  if (!isCount(o.seq)) return { ok: false, why: "bad seq" };
  if (typeof o.t !== "number" || !Number.isFinite(o.t) || o.t <= 0 || o.t > MAX_TIME_S) return { ok: false, why: "bad t" };
  if (o.t0 !== undefined && (typeof o.t0 !== "number" || !Number.isFinite(o.t0) || o.t0 <= 0 || o.t0 > o.t)) return { ok: false, why: "bad t0" };
  if (typeof o.step_s !== "number" || !Number.isFinite(o.step_s) || o.step_s < 0) return { ok: false, why: "bad step_s" };
  if (!Array.isArray(o.zones) || o.zones.length === 0 || o.zones.length > MAX_LINE_ZONES) return { ok: false, why: "bad zones" };
  const zones: ChannelZone[] = [];
  for (const z of o.zones as unknown[]) {
    if (typeof z !== "object" || z === null) return { ok: false, why: "bad zone" };
    const r = z as Record<string, unknown>;
    if (typeof r.zone !== "string" || !ZONE_ID_RE.test(r.zone)) return { ok: false, why: "bad zone id" };
    if (typeof r.name !== "string" || !ZONE_NAME_RE.test(r.name)) return { ok: false, why: "bad zone name" };
    if (!isCount(r.max_energy_range_uj) || r.max_energy_range_uj === 0) return { ok: false, why: "bad max_energy_range_uj" };
    if (!isCount(r.energy_uj) || r.energy_uj >= r.max_energy_range_uj) return { ok: false, why: "bad energy_uj" };
    zones.push({ zone: r.zone, name: r.name, energy_uj: r.energy_uj, max_energy_range_uj: r.max_energy_range_uj });
  }
  if (new Set(zones.map((z) => z.zone)).size !== zones.length) return { ok: false, why: "a zone twice" };
  return { ok: true, message: { v: 1, epoch: o.epoch, seq: o.seq, t: o.t, ...(o.t0 !== undefined ? { t0: o.t0 } : {}), step_s: o.step_s, zones } };
}
