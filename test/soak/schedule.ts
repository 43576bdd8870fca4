/**
 * The soak's schedule: a seeded random sequence of events, the same for the
 * same seed (printed, and given back with --seed to replay it). Each event
 * runs to its end before the gap that follows it; a CPU burner and the
 * hosts' steps of power run beside the others.
 */
import { prng } from "@scaph/test-support";

export const HOST_EVENTS = ["daemon-kill", "daemon-term", "state-full", "burner"] as const;
export const VM_EVENTS = ["migrate", "migrate-abort", "reboot", "save-restore", "managedsave-start", "suspend-resume", "unplug-plug"] as const;
export type EventType = (typeof HOST_EVENTS)[number] | (typeof VM_EVENTS)[number];

export interface Planned {
  /** Seconds after the schedule began, at the earliest (the events before may end later). */
  atS: number;
  type: EventType;
  /** A host ("A", "B") for host events, a VM for VM events. */
  target: string;
}

/** A step of a host's simulated power. */
export interface PowerStep {
  atS: number;
  host: string;
  /** The package's watts from then on (dram draws a tenth of it). */
  watts: number;
}

/** How often each event comes, relative to the others: the moves, the restarts and the saves most. */
const WEIGHTS: Record<EventType, number> = {
  migrate: 4,
  "migrate-abort": 1,
  "daemon-kill": 2,
  "daemon-term": 2,
  reboot: 1,
  "save-restore": 2,
  "managedsave-start": 1,
  "suspend-resume": 2,
  "unplug-plug": 2,
  "state-full": 1,
  burner: 1,
};

/**
 * The events of `durationS` seconds for `seed`: one every 10 to 25 s, each
 * type at its weight, every type at least once when there is room (the
 * first ones go through the types in a seeded order), and the hosts' power
 * changing every 8 to 20 s between 10 and 45 W.
 */
export function schedule(seed: number, durationS: number, hosts: readonly string[], vms: readonly string[]): { events: Planned[]; power: PowerStep[] } {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const types = Object.keys(WEIGHTS) as EventType[];
  const firsts = [...types].sort(() => rnd() - 0.5);
  const total = types.reduce((s, t) => s + WEIGHTS[t], 0);
  const weighted = (): EventType => {
    let x = rnd() * total;
    for (const t of types) if ((x -= WEIGHTS[t]) < 0) return t;
    return types[types.length - 1] as EventType;
  };
  const events: Planned[] = [];
  for (let atS = 10 + 10 * rnd(); atS < durationS - 15; atS += 10 + 15 * rnd()) {
    const type = firsts.shift() ?? weighted();
    events.push({ atS: Math.round(atS * 10) / 10, type, target: (HOST_EVENTS as readonly string[]).includes(type) ? pick(hosts) : pick(vms) });
  }
  const power: PowerStep[] = [];
  for (let atS = 8 * rnd(); atS < durationS; atS += 8 + 12 * rnd())
    power.push({ atS: Math.round(atS * 10) / 10, host: pick(hosts), watts: Math.round(10 + 35 * rnd()) });
  return { events, power };
}

/** A seed for a run that was given none: printed, so that the run can be replayed. */
export const randomSeed = (): number => Math.floor(Math.random() * 2 ** 31);
