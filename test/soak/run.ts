/**
 * What a soak run records (the lines the hosts sent, what the guests applied
 * and reported, what a third-party reader read, the events, the daemons'
 * resources) and what the checker (checker.ts) says of it.
 */

/** One line a host's daemon sent to a VM, as its status file said: the VM's counter (package + dram, µJ) in its epoch. */
export interface SentLine {
  host: string;
  vm: string;
  epoch: string;
  seq: number;
  /** The host's time of the line (Unix s). */
  tS: number;
  /** The step it closes (s). */
  stepS: number;
  uj: number;
}

/** A line a guest's agent applied, and its counter after it (package + dram, µJ). */
export interface AppliedLine {
  vm: string;
  boot: number;
  epoch: string;
  seq: number;
  tS: number;
  counterUj: number;
  /** When the soak saw it (host ms). */
  seenMs: number;
}

/** A report of a guest's agent: its power (µW) over the interval ending at the host time of its last line. */
export interface GuestReport {
  vm: string;
  boot: number;
  /** Which run of the agent (reports of two runs are not one series). */
  run: number;
  tS: number;
  uw: number;
}

/** A reading of the tree by a third-party-style reader: the guest's uptime (s), package + dram (µJ), when the soak saw it (host ms). */
export interface ReaderSample {
  vm: string;
  boot: number;
  upS: number;
  uj: number;
  seenMs: number;
  /** The host time of what the tree showed (its energy_uj's modification time), where the reader could tell. */
  shownS?: number;
}

/** An event of the schedule (or of a guest's own chaos), with when it began and ended (host ms). */
export interface SoakEvent {
  type: string;
  /** The host or VM it concerns. */
  target: string;
  startMs: number;
  endMs: number;
}

/** When a VM's agent was not there to apply lines (host ms): killed, restarting, the guest rebooting. */
export interface AgentDown {
  vm: string;
  fromMs: number;
  toMs: number;
}

/** A sample of a daemon's resources. */
export interface DaemonSample {
  host: string;
  ms: number;
  rssBytes: number;
  fds: number;
}

export interface SoakRun {
  lines: SentLine[];
  applied: AppliedLine[];
  reports: GuestReport[];
  reader: ReaderSample[];
  events: SoakEvent[];
  agentDown: AgentDown[];
  daemons: DaemonSample[];
  /** The daemons' step (s). */
  stepS: number;
  /** VMs running at the end, and since when (host ms), for the live check. */
  vms: string[];
  /** When the run was checked (host ms): an epoch whose last line is newer than 10 s is still going, not lost. */
  nowMs: number;
}

export interface Breach {
  invariant: "no spike" | "conservation" | "monotonic" | "live" | "bounded";
  vm: string | null;
  /** When (host ms), to find the lines around it. */
  atMs: number;
  what: string;
}

export interface Loss {
  vm: string;
  epoch: string;
  uj: number;
  /** That VM's largest step of energy in the epoch (µJ). */
  stepUj: number;
  /** The events around the epoch's end. */
  causes: string[];
}

export interface SoakVerdict {
  breaches: Breach[];
  losses: Loss[];
  /** Highest report / attributed power (agent), and reader / attributed. */
  worstReportRatio: number;
  worstReaderRatio: number;
  /** How far behind the host's time the tree showed, at most (s): a step and a poll, more after an absence. */
  worstLagS: number;
  /** How many reports and reader windows were held against what the hosts attributed (none: nothing was checked). */
  checked: { reports: number; readerWindows: number };
  /** µJ each VM was attributed (all epochs), and what its guest counted. */
  energy: { vm: string; sentUj: number; countedUj: number }[];
  /** Per event type, how many, and the energy lost at them (µJ, and in steps). */
  eventTypes: { type: string; count: number; lossUj: number; lossSteps: number }[];
  /** Each daemon's RSS and fds in the three thirds of the run (max of each). */
  resources: { host: string; rssMiB: number[]; fds: number[] }[];
}
