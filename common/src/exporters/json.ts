import { constants, lstatSync, statSync } from "node:fs";
import { open, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { replaceFile } from "../io/atomic.js";
import { errnoCode, errorMessage, ScaphError } from "../errors.js";
import type { Writable } from "node:stream";
import type { Snapshot } from "../attribution/snapshot.js";
import type { Microwatts } from "../units.js";
import { jsonContainer } from "../containers/info.js";
import type { JsonContainer } from "../containers/info.js";
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
  /** Its container with --containers, else null (as Scaphandre). */
  container: JsonContainer | null;
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
      container: p.container ? jsonContainer(p.container) : null,
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

const CLOSE = "\n]\n";

/**
 * Writes reports as one JSON array: `[`, reports separated by commas, `]`.
 * To a file, the file is a complete array after every step at a constant
 * cost per step: the first report creates it (temp file + rename), each next
 * one is written over the closing `]` and closes the array again. If the
 * file was moved, truncated or rewritten meanwhile (log rotation), a new
 * array starts with the next report. To a stream: `]` comes on close().
 */
/**
 * Why `file` cannot be the JSON output (-f), or null: it must be a regular
 * file, or absent from a directory that exists. A directory, a device, a
 * FIFO, a socket or a symbolic link (to anything: root would write wherever
 * it points) is refused, and nothing is removed or replaced.
 */
export function jsonFileProblem(file: string): string | null {
  let st;
  try {
    st = lstatSync(file);
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") return `${file}: ${errorMessage(err)}`;
    try {
      if (!statSync(dirname(file)).isDirectory()) return `${dirname(file)} is not a directory`;
    } catch (e) {
      return `cannot write ${file}: ${dirname(file)} ${errnoCode(e) === "ENOENT" ? "does not exist" : errorMessage(e)}`;
    }
    return null;
  }
  if (st.isSymbolicLink()) return `${file} is a symbolic link: refusing to write through it or to replace it (give the file itself)`;
  if (st.isDirectory()) return `${file} is a directory: refusing to replace it (give the path of a file)`;
  if (!st.isFile()) return `${file} is not a regular file (a device, a FIFO or a socket): refusing to replace it`;
  return null;
}

export class JsonSink {
  private opened = false;
  private closed = false;
  /** Size of the file as this sink left it; -1 before the first report. */
  private fileBytes = -1;
  private fileIno = -1;

  constructor(private readonly target: { file: string } | { stream: Writable }) {}

  async write(report: JsonReport): Promise<void> {
    if (this.closed) return;
    const json = JSON.stringify(report);
    if ("file" in this.target) {
      if (!(await this.append(this.target.file, json))) await this.create(this.target.file, json);
      return;
    }
    this.target.stream.write((this.opened ? ",\n" : "[\n") + json);
    this.opened = true;
  }

  /** Writes `,report]` over the closing `]`, if the file is still the one this sink left. */
  private async append(file: string, json: string): Promise<boolean> {
    if (this.fileBytes < 0) return false;
    let fh: FileHandle;
    try {
      fh = await open(file, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return false; // moved or removed: start anew
    }
    try {
      const st = await fh.stat();
      if (st.size !== this.fileBytes || st.ino !== this.fileIno) return false;
      const buf = Buffer.from(",\n" + json + CLOSE);
      await fh.write(buf, 0, buf.length, this.fileBytes - CLOSE.length);
      this.fileBytes += buf.length - CLOSE.length;
      return true;
    } finally {
      await fh.close();
    }
  }

  private async create(file: string, json: string): Promise<void> {
    const problem = jsonFileProblem(file); // (again at each new array: the path may have changed since)
    if (problem !== null) throw new ScaphError(problem);
    const text = "[\n" + json + CLOSE;
    replaceFile(dirname(file), basename(file), text);
    this.fileBytes = Buffer.byteLength(text);
    this.fileIno = (await stat(file)).ino;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if ("file" in this.target) {
      if (this.fileBytes < 0 && jsonFileProblem(this.target.file) === null) replaceFile(dirname(this.target.file), basename(this.target.file), "[]\n");
      return;
    }
    this.target.stream.write(this.opened ? CLOSE : "[]\n");
  }
}
