import type { Snapshot } from "../attribution/snapshot.js";
import type { Microwatts } from "../units.js";
import { containerShortName } from "../containers/info.js";
import { exeLabel, selectProcesses } from "./select.js";
import type { ProcessFilter } from "./select.js";

/** Watts with up to 6 decimals (µW precision), as Scaphandre prints them. */
export function formatWatts(uw: Microwatts): string {
  return `${Number((uw / 1e6).toFixed(6))}`;
}

export const SEPARATOR = "-".repeat(60);

/** A step as Rust's `{:?}` of a Duration prints it (Scaphandre's "Measurement step is: 2s"): 2s, 1.5s, 500ms, 250µs. */
export function rustDuration(seconds: number): string {
  if (seconds >= 1) return `${Number(seconds.toFixed(9))}s`;
  if (seconds >= 1e-3) return `${Number((seconds * 1e3).toFixed(6))}ms`;
  return `${Number((seconds * 1e6).toFixed(3))}µs`;
}

/**
 * One step of Scaphandre's stdout layout, byte for byte as its 1.0 source
 * prints it (src/exporters/stdout.rs): Host, the domains' names, each socket
 * (its domains each followed by a tab, then an empty line), Top N consumers
 * or the filtered ones, the separator and an empty line. What scaph prints
 * more goes at the end of a line as a tab-separated `key="value"` field
 * (vm=, container=), or in a table of its own after the consumers
 * (containers): a parser of Scaphandre's lines reads the same fields.
 */
export function formatStdout(s: Snapshot, filter: ProcessFilter): string {
  const lines: string[] = [];
  const est = s.estimated ? " (estimated)" : "";
  lines.push(`Host:\t${formatWatts(s.host.powerUw)} W from ${s.valueSource}${est}`);
  const names = s.sockets[0]?.domains.map((d) => d.name) ?? [];
  lines.push(`\tpackage \t${names.join("\t\t")}`);
  for (const sock of s.sockets) {
    // a domain the socket lacks is Scaphandre's "---" (no tab after it), an idle socket its "----"
    const doms = names.map((n) => {
      const d = sock.domains.find((x) => x.name === n);
      return d ? `${formatWatts(d.powerUw)} W\t` : "---";
    });
    lines.push(`Socket${sock.id}\t${sock.powerUw > 0 ? formatWatts(sock.powerUw) : "----"} W |\t${doms.join("")}`, "");
  }
  const procs = selectProcesses(s.processes, filter);
  lines.push(filter.kind === "top" ? `Top ${filter.n} consumers:` : `Processes filtered by '${filter.source}':`);
  lines.push("Power\t\tPID\tExe");
  if (procs.length === 0) lines.push("No processes found yet or filter returns no value.");
  for (const p of procs) {
    const vm = p.vmname !== undefined ? `\tvm=${JSON.stringify(p.vmname)}` : "";
    const ct = p.container ? `\tcontainer=${JSON.stringify(containerShortName(p.container))}` : "";
    lines.push(`${formatWatts(p.powerUw)} W\t${p.pid}\t${JSON.stringify(exeLabel(p))}${vm}${ct}`);
  }
  if (s.containers && s.containers.length > 0) {
    const shown = s.containers.slice(0, filter.kind === "top" ? filter.n : s.containers.length);
    lines.push(`Top ${shown.length} containers:`);
    lines.push("Power\t\tProcs\tContainer");
    for (const c of shown) lines.push(`${formatWatts(c.powerUw)} W\t${c.processes}\t${JSON.stringify(containerShortName(c.container))}`);
  }
  lines.push(SEPARATOR, "");
  return lines.join("\n") + "\n";
}
