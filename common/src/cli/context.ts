import type { Command } from "commander";
import type { Logger } from "../log.js";
import { createLogger, levelFromVerbosity } from "../log.js";
import { Measurer } from "../measure.js";
import { ProcessTable } from "../procfs/table.js";
import { createSensor } from "../sensor/factory.js";
import type { ProcessAnnotator } from "../measure.js";

/** Global options every CLI (host or guest) takes before the subcommand. */
export interface GlobalOptions {
  sensor: string;
  tdpWatts?: number;
  idleWatts?: number;
  verbose: number;
}

/** Roots every measuring subcommand takes. */
export interface RootOptions {
  powercapPath: string;
  procfsPath: string;
}

/** What differs between scaph-host and scaph-guest. */
export interface CliEnvironment {
  /** Program name for messages. */
  program: string;
  /** Default powercap root: /sys/class/powercap on the host, the shared tree in a guest. */
  defaultPowercapPath: () => string;
  /** Hook run before measuring, with the subcommand's options (the guest waits for its tree). */
  beforeOpen?: (opts: RootOptions & Record<string, unknown>, log: Logger) => Promise<void>;
  /** Adds environment-specific options to every measuring subcommand (the guest's --no-wait). */
  extendCommand?: (cmd: Command) => void;
  /** Hook that labels processes (the host's --qemu). */
  labeler?: (enabled: boolean) => ProcessAnnotator | undefined;
}

export function globalOptions(cmd: Command): GlobalOptions {
  let root: Command = cmd;
  while (root.parent) root = root.parent;
  return root.opts<GlobalOptions>();
}

export function loggerFor(cmd: Command): Logger {
  return createLogger({ level: levelFromVerbosity(globalOptions(cmd).verbose ?? 0) });
}

/** Opens the sensor and the /proc reader chosen by the options. */
export async function openMeasurer(
  cmd: Command,
  roots: RootOptions & { qemu?: boolean },
  env: CliEnvironment,
  log: Logger,
): Promise<Measurer> {
  const g = globalOptions(cmd);
  await env.beforeOpen?.(roots as RootOptions & Record<string, unknown>, log);
  const sensor = await createSensor({
    sensor: g.sensor,
    powercapPath: roots.powercapPath,
    procfsPath: roots.procfsPath,
    ...(g.tdpWatts !== undefined ? { tdpWatts: g.tdpWatts } : {}),
    ...(g.idleWatts !== undefined ? { idleWatts: g.idleWatts } : {}),
    log,
  });
  const annotate = env.labeler?.(roots.qemu === true);
  const m = new Measurer(sensor, new ProcessTable({ procRoot: roots.procfsPath }), { log, ...(annotate ? { annotate } : {}) });
  await m.prime();
  return m;
}

/** An AbortSignal fired by SIGINT or SIGTERM (Ctrl-C ends a run cleanly). */
export function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return ac.signal;
}
