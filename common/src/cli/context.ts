import type { Command } from "commander";
import type { Logger } from "../log.js";
import { createLogger, levelFromVerbosity, writeStderr } from "../log.js";
import { Meter } from "../meter.js";
import type { VmSource } from "../meter.js";
import type { ContainerSource } from "../containers/source.js";
import { ProcessTable } from "../procfs/table.js";
import { createSensor } from "../sensor/factory.js";
import type { Sensor } from "../sensor/types.js";

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
  /**
   * Hook run before measuring, with the subcommand (the guest waits for its tree). Each hook reads the options it
   * added (extendCommand, qemu.addOptions) with the command's own typed `opts<T>()`.
   */
  beforeOpen?: (cmd: Command, log: Logger) => Promise<void>;
  /** A sensor of the environment's own, where it has one for the subcommand's options (the guest's channel), else null. */
  sensor?: (cmd: Command, log: Logger) => Promise<Sensor | null>;
  /** Adds environment-specific options to every measuring subcommand (the guest's --no-wait). */
  extendCommand?: (cmd: Command) => void;
  /** The host's --qemu: its options, and the VM resolver it turns on (labels qemu processes, adds per-VM series). */
  qemu?: {
    addOptions(cmd: Command): void;
    source(cmd: Command, log: Logger): Promise<VmSource>;
  };
}

/**
 * The global options, given before the subcommand or after it (see
 * acceptGlobalOptionsAfterSubcommands): after it wins, and -v counts
 * wherever it is given.
 */
export function globalOptions(cmd: Command): GlobalOptions {
  const chain: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) chain.unshift(c);
  const [root, ...subs] = chain as [Command, ...Command[]];
  const g = { ...root.opts<GlobalOptions>() };
  for (const sub of subs) {
    const o = sub.opts<Partial<GlobalOptions>>();
    const given = (k: string): boolean => sub.getOptionValueSource(k) === "cli" || sub.getOptionValueSource(k) === "env";
    if (given("sensor") && o.sensor !== undefined) g.sensor = o.sensor;
    if (given("tdpWatts") && o.tdpWatts !== undefined) g.tdpWatts = o.tdpWatts;
    if (given("idleWatts") && o.idleWatts !== undefined) g.idleWatts = o.idleWatts;
    if (typeof o.verbose === "number") g.verbose = (g.verbose ?? 0) + o.verbose;
  }
  return g;
}

export function loggerFor(cmd: Command): Logger {
  return createLogger({ level: levelFromVerbosity(globalOptions(cmd).verbose ?? 0) });
}

/** Opens the sensor and the /proc reader chosen by the options, and takes the first reading. */
export async function openMeter(
  cmd: Command,
  roots: RootOptions,
  env: CliEnvironment,
  log: Logger,
  options: { hostStats?: boolean; vms?: VmSource; containers?: ContainerSource; keepProcesses?: boolean } = {},
): Promise<Meter> {
  const g = globalOptions(cmd);
  await env.beforeOpen?.(cmd, log);
  const sensor =
    (await env.sensor?.(cmd, log)) ??
    (await createSensor({
      sensor: g.sensor,
      powercapPath: roots.powercapPath,
      procfsPath: roots.procfsPath,
      ...(g.tdpWatts !== undefined ? { tdpWatts: g.tdpWatts } : {}),
      ...(g.idleWatts !== undefined ? { idleWatts: g.idleWatts } : {}),
      log,
    }));
  const table = new ProcessTable({ procRoot: roots.procfsPath, hostStats: options.hostStats ?? false, log });
  const m = new Meter(sensor, table, {
    log,
    ...(options.vms ? { vms: options.vms } : {}),
    ...(options.containers ? { containers: options.containers } : {}),
    ...(options.keepProcesses !== undefined ? { keepProcesses: options.keepProcesses } : {}),
  });
  m.prime();
  return m;
}

/** After SIGINT/SIGTERM, the program ends within this time even if a step is stuck (a hung libvirtd call). */
export const STOP_WITHIN_MS = 2500;

let interrupt: AbortController | null = null;

/**
 * An AbortSignal fired by SIGINT or SIGTERM (Ctrl-C, systemctl stop): the
 * loop ends after the step in progress (steps write synchronously, so no
 * file is left half-written), and in any case the process exits within
 * STOP_WITHIN_MS; a second signal exits at once. SIGHUP (a closed terminal,
 * `systemctl reload`) is logged and ignored: logs go to stderr, there is
 * nothing to reopen, and a daemon must not die mid-step.
 */
export function interruptSignal(): AbortSignal {
  if (interrupt) return interrupt.signal;
  const ac = (interrupt = new AbortController());
  const stop = (sig: NodeJS.Signals): void => {
    if (ac.signal.aborted) process.exit(128 + (sig === "SIGINT" ? 2 : 15));
    ac.abort();
    setTimeout(() => {
      writeStderr(`${sig}: still busy after ${STOP_WITHIN_MS} ms, exiting now`);
      process.exit(128 + (sig === "SIGINT" ? 2 : 15));
    }, STOP_WITHIN_MS).unref();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.on("SIGHUP", () => writeStderr(`${new Date().toISOString()} INFO SIGHUP ignored (logs go to stderr; nothing to reload)`));
  return ac.signal;
}
