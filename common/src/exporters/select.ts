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

/** Processes come sorted by energy, highest first. Regex matches exe or cmdline. */
export function selectProcesses(processes: readonly ProcessSnapshot[], filter: ProcessFilter): ProcessSnapshot[] {
  if (filter.kind === "top") return processes.slice(0, Math.max(0, filter.n));
  if (filter.kind === "container") {
    return processes.filter((p) => p.container !== undefined && (p.container.names.some((n) => filter.re.test(n)) || (p.container.pod !== undefined && filter.re.test(p.container.pod.name))));
  }
  return processes.filter((p) => filter.re.test(exeLabel(p)) || filter.re.test(cmdlineString(p)));
}
