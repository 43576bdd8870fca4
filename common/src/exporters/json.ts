import { rename, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Writable } from "node:stream";
import type { Snapshot } from "../attribution/snapshot.js";
import type { Microwatts } from "../units.js";
import { cmdlineString, exeLabel, selectProcesses } from "./select.js";
import type { ProcessFilter } from "./select.js";

export interface JsonDomain {
  name: string;
  consumption: Microwatts;
  timestamp: number;
}
export interface JsonSocket {
  id: number;
  consumption: Microwatts;
  timestamp: number;
  domains: JsonDomain[];
}
export interface JsonConsumer {
  exe: string;
  cmdline: string;
  pid: number;
  resources_usage: null;
  consumption: Microwatts;
  timestamp: number;
  container: null;
  vmname?: string;
}
/** Scaphandre's JSON report; `value_source` says where host values come from. */
export interface JsonReport {
  host: { consumption: Microwatts; timestamp: number; value_source: string; estimated: boolean; components: { disks: [] } };
  consumers: JsonConsumer[];
  sockets: JsonSocket[];
}

const uw = (v: number): number => Math.round(v);

export function toJsonReport(s: Snapshot, filter: ProcessFilter): JsonReport {
  const ts = s.timestampS;
  return {
    host: {
      consumption: uw(s.host.powerUw),
      timestamp: ts,
      value_source: s.valueSource,
      estimated: s.estimated,
      components: { disks: [] },
    },
    consumers: selectProcesses(s.processes, filter).map((p) => ({
      exe: exeLabel(p),
      cmdline: cmdlineString(p),
      pid: p.pid,
      resources_usage: null,
      consumption: uw(p.powerUw),
      timestamp: ts,
      container: null,
      ...(p.vmname !== undefined ? { vmname: p.vmname } : {}),
    })),
    sockets: s.sockets.map((k) => ({
      id: k.id,
      consumption: uw(k.powerUw),
      timestamp: ts,
      domains: k.domains.map((d) => ({ name: d.name, consumption: uw(d.powerUw), timestamp: ts })),
    })),
  };
}

/**
 * Writes reports as one JSON array. To a file: the whole array is rewritten
 * atomically each step (temp file + rename), so the file is always valid.
 * To a stream: `[`, reports separated by commas, `]` on close().
 */
export class JsonSink {
  private readonly reports: JsonReport[] = [];
  private opened = false;
  private closed = false;

  constructor(private readonly target: { file: string } | { stream: Writable }) {}

  async write(report: JsonReport): Promise<void> {
    if (this.closed) return;
    if ("file" in this.target) {
      this.reports.push(report);
      const file = this.target.file;
      const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
      await writeFile(tmp, JSON.stringify(this.reports) + "\n");
      await rename(tmp, file);
      return;
    }
    this.target.stream.write((this.opened ? ",\n" : "[\n") + JSON.stringify(report));
    this.opened = true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if ("file" in this.target) {
      if (this.reports.length === 0) await writeFile(this.target.file, "[]\n");
      return;
    }
    this.target.stream.write(this.opened ? "\n]\n" : "[]\n");
  }
}
