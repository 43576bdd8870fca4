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

/** One step of Scaphandre's stdout layout (Host / SocketN / Top N consumers). */
export function formatStdout(s: Snapshot, filter: ProcessFilter): string {
  const lines: string[] = [];
  const est = s.estimated ? " (estimated)" : "";
  lines.push(`Host:\t${formatWatts(s.host.powerUw)} W from ${s.valueSource}${est}`);
  const names = s.sockets[0]?.domains.map((d) => d.name) ?? [];
  lines.push(`\tpackage \t${names.join("\t\t")}`);
  for (const sock of s.sockets) {
    const doms = names.map((n) => {
      const d = sock.domains.find((x) => x.name === n);
      return d ? `${formatWatts(d.powerUw)} W` : "n/a";
    });
    lines.push(`Socket${sock.id}\t${formatWatts(sock.powerUw)} W |\t${doms.join("\t")}`);
  }
  const procs = selectProcesses(s.processes, filter);
  lines.push(filter.kind === "top" ? `Top ${filter.n} consumers:` : `Processes filtered by '${filter.source}':`);
  lines.push("Power\t\tPID\tExe");
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
  lines.push(SEPARATOR);
  return lines.join("\n") + "\n";
}
