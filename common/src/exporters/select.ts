import type { ProcessSnapshot } from "../attribution/snapshot.js";
import { ScaphError, errorMessage } from "../errors.js";

/**
 * Which processes a report lists: the top N by energy, those whose exe or
 * cmdline match a regex, or those in a container whose name (or pod's
 * name) matches one (json's --container-regex).
 */
export type ProcessFilter = { kind: "top"; n: number } | { kind: "regex" | "container"; re: RegExp; source: string };

export function compileRegex(source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (err) {
    throw new ScaphError(`Invalid regular expression ${JSON.stringify(source)}: ${errorMessage(err)}`);
  }
}

export function cmdlineString(p: Pick<ProcessSnapshot, "cmdline">): string {
  return p.cmdline.join(" ");
}

/**
 * The command line as a label, at most `max` characters (a cut one ends in
 * "..."), never cut inside a character: half of a surrogate pair (an emoji
 * at the cut) is no text, and every encoder of a label (a URL for Warp 10)
 * refuses it.
 */
export function cmdlineLabel(p: Pick<ProcessSnapshot, "cmdline">, max = Infinity): string {
  const s = cmdlineString(p);
  if (s.length <= max) return s;
  let end = Math.max(0, max - 3);
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--; // a high surrogate whose pair the cut would leave out
  return `${s.slice(0, end)}...`;
}

/**
 * A process's `exe`, as Scaphandre names it: its name from /proc/PID/comm
 * (`nginx`, `dockerd`, `kube-apiserver`; the kernel keeps 15 bytes), so
 * that its dashboards' and alerts' `exe="dockerd"` match. The path is in
 * `cmdline`. Where comm is empty (never on Linux), the executable's name.
 */
export function exeLabel(p: Pick<ProcessSnapshot, "exe" | "cmdline" | "comm">): string {
  return p.comm || p.exe.split("/").pop() || (p.cmdline[0] ?? "").split("/").pop() || "?";
}

/**
 * How much of a command line a regex filter (-r) is tested against: a
 * regex that backtracks (`nginx.*master`) on a command line of 128 KiB
 * that a local user made takes seconds.
 */
export const MATCHED_CMDLINE_MAX = 4096;

/** Each regex's verdict on each command line (the same array for a process's life), with the exe and comm it was given. */
const verdicts = new WeakMap<RegExp, WeakMap<readonly string[], { exe: string; comm: string; match: boolean }>>();

/** Whether a process's exe label or command line (its first MATCHED_CMDLINE_MAX characters) matches: tested once per process, not per step. */
function regexMatches(re: RegExp, p: ProcessSnapshot): boolean {
  let byCmdline = verdicts.get(re);
  if (!byCmdline) verdicts.set(re, (byCmdline = new WeakMap()));
  const known = byCmdline.get(p.cmdline);
  if (known && known.exe === p.exe && known.comm === p.comm) return known.match;
  const match = re.test(exeLabel(p)) || re.test(cmdlineString(p).slice(0, MATCHED_CMDLINE_MAX));
  byCmdline.set(p.cmdline, { exe: p.exe, comm: p.comm, match });
  return match;
}

/** Processes come sorted by energy, highest first. Regex matches exe or cmdline. */
export function selectProcesses(processes: readonly ProcessSnapshot[], filter: ProcessFilter): ProcessSnapshot[] {
  if (filter.kind === "top") return processes.slice(0, Math.max(0, filter.n));
  if (filter.kind === "container") {
    return processes.filter(
      (p) =>
        p.container !== undefined &&
        (p.container.names.some((n) => filter.re.test(n)) || (p.container.pod !== undefined && filter.re.test(p.container.pod.name))),
    );
  }
  return processes.filter((p) => regexMatches(filter.re, p));
}
