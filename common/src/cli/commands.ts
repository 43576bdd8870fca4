import { Command, Option } from "commander";
import { ScaphError, errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import { writeStderr } from "../log.js";
import type { Sink } from "../exporters/sink.js";
import { jsonFileProblem, JsonSink, toJsonReport } from "../exporters/json.js";
import { compileRegex } from "../exporters/select.js";
import type { ProcessFilter } from "../exporters/select.js";
import { formatStdout, rustDuration } from "../exporters/stdout.js";
import { runLoop } from "../loop.js";
import type { VmSource } from "../meter.js";
import type { ContainerSource } from "../containers/source.js";
import { DEFAULT_IDLE_WATTS, DEFAULT_TDP_WATTS } from "../sensor/estimate.js";
import { SENSOR_NAMES } from "../sensor/factory.js";
import { DiskReader } from "../procfs/disk-reader.js";
import type { DiskStats } from "../procfs/disks.js";
import { interruptSignal, loggerFor, openMeter } from "./context.js";
import type { CliEnvironment, RootOptions } from "./context.js";
import { countVerbose, intArg, numberArg, regexArg, stepArg, stepProblem, timeoutArg } from "./parse.js";
import { stdoutCarriesReports } from "./main.js";
import { addContainerOptions, containerMetrics, containerSourceFor } from "./containers.js";
import type { ContainerFlags } from "./containers.js";

/** Options every CLI takes before its subcommand (as in Scaphandre). */
export function addGlobalOptions(program: Command): Command {
  return program
    .enablePositionalOptions()
    .addOption(new Option("-s, --sensor <name>", "sensor that reads energy").choices([...SENSOR_NAMES]).default("powercap_rapl"))
    .addOption(
      new Option("--tdp-watts <W>", `estimate sensor: package power at 100% CPU, in W (default ${DEFAULT_TDP_WATTS})`).argParser(numberArg("--tdp-watts", 0)),
    )
    .addOption(
      new Option("--idle-watts <W>", `estimate sensor: package power at 0% CPU, in W (default ${DEFAULT_IDLE_WATTS})`).argParser(numberArg("--idle-watts", 0)),
    )
    .option("-v, --verbose", "more log output on stderr (-v info, -vv debug)", countVerbose, 0)
    .showHelpAfterError();
}

/** Scaphandre's flags that scaph takes and ignores, with the line it says when given one. */
const OBSOLETE_FLAGS: readonly { flags: string; notice: string }[] = [
  { flags: "--sensor-buffer-per-domain-max-kB <kB>", notice: "scaph keeps no sensor buffer" },
  { flags: "--sensor-buffer-per-socket-max-kB <kB>", notice: "scaph keeps no sensor buffer" },
  { flags: "--sensor-buffer-per-domain-max-kb <kB>", notice: "scaph keeps no sensor buffer" },
  { flags: "--sensor-buffer-per-socket-max-kb <kB>", notice: "scaph keeps no sensor buffer" },
];

/**
 * Adds Scaphandre's obsolete flags (and `extra`) to the program and every
 * subcommand, hidden: each is accepted, says in one line that it has no
 * effect, and changes nothing, so that a Scaphandre unit file or script runs
 * as it is. And `-V` after a subcommand prints the version, as before it.
 */
export function acceptScaphandreFlags(program: Command, extra: readonly { flags: string; notice: string }[] = []): void {
  const all = [program, ...allSubcommands(program)];
  for (const cmd of all) {
    for (const f of [...OBSOLETE_FLAGS, ...extra]) {
      const o = new Option(f.flags).hideHelp();
      if (cmd.options.some((x) => x.long === o.long)) continue;
      cmd.addOption(o);
      cmd.on(`option:${o.name()}`, () => writeStderr(`${program.name()}: ${o.long} has no effect (${f.notice})`));
    }
    if (cmd !== program && !cmd.options.some((x) => x.short === "-V" || x.long === "--version")) {
      cmd.addOption(new Option("-V, --version").hideHelp());
      cmd.on("option:version", () => {
        process.stdout.write(`${program.version() ?? ""}\n`);
        process.exit(0);
      });
    }
  }
}

function allSubcommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allSubcommands(c)]);
}

/** The global options' keys that a subcommand may take too (after it on the command line). */
const GLOBAL_KEYS = ["sensor", "tdpWatts", "idleWatts", "verbose"] as const;

/**
 * Lets every subcommand take the global options after it, as an operator
 * writes them (`scaph-host prometheus --sensor estimate -v`, a unit's
 * `$SCAPH_HOST_PROMETHEUS_OPTS`): each gets hidden copies of them, by their
 * long name (`-s` is a subcommand's --step), and `-v`; globalOptions() reads
 * them back. Call once every subcommand is added.
 */
export function acceptGlobalOptionsAfterSubcommands(program: Command): void {
  const globals = program.options.filter((opt) => GLOBAL_KEYS.includes(opt.attributeName() as (typeof GLOBAL_KEYS)[number]));
  const visit = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      for (const g of globals) {
        if (g.long === undefined || sub.options.some((opt) => opt.long === g.long)) continue;
        const verbose = g.attributeName() === "verbose";
        const shortFree = verbose && !sub.options.some((opt) => opt.short === g.short);
        const copy = new Option(shortFree ? g.flags : g.flags.replace(/^-\w,\s*/, ""), g.description).hideHelp();
        if (g.argChoices) copy.choices(g.argChoices);
        if (g.parseArg) copy.argParser(g.parseArg);
        if (verbose) copy.default(0);
        sub.addOption(copy);
      }
      visit(sub);
    }
  };
  visit(program);
}

/** --powercap-path and --procfs-path, with the environment's defaults. */
export function addRootOptions(cmd: Command, env: CliEnvironment): Command {
  env.extendCommand?.(cmd);
  return cmd
    .option("--powercap-path <dir>", "powercap root to read RAPL zones from", env.defaultPowercapPath())
    .option("--procfs-path <dir>", "procfs root to read CPU time from", "/proc");
}

function addTimingOptions(cmd: Command, stepZeroOk = false): Command {
  return cmd
    .option("-t, --timeout <seconds>", "how long to run; 0 or less runs until Ctrl-C", timeoutArg("--timeout"), 10)
    .option("-s, --step <seconds>", "seconds between two measurements", stepArg("--step", stepZeroOk), 2);
}

/** --qemu where the environment resolves VMs (the host), and --containers everywhere. */
export function addQemuOption(cmd: Command, env: CliEnvironment, about: string): void {
  addContainerOptions(cmd);
  if (!env.qemu) return;
  cmd.option("-q, --qemu", about);
  env.qemu.addOptions(cmd);
}

/** What a measuring subcommand `cmd` resolves besides energy: VMs (--qemu) and containers (--containers, which addQemuOption adds). */
export async function resolversFor(cmd: Command, env: CliEnvironment, log: Logger): Promise<{ vms?: VmSource; containers?: ContainerSource }> {
  const o = cmd.opts<ContainerFlags & { qemu?: boolean }>();
  const vms = o.qemu && env.qemu ? await env.qemu.source(cmd, log) : undefined;
  const containers = containerSourceFor(o, log);
  return { ...(vms ? { vms } : {}), ...(containers ? { containers } : {}) };
}

export function regexOrTop(regex: string | undefined, n: number | undefined): ProcessFilter {
  return regex ? { kind: "regex", re: compileRegex(regex), source: regex } : { kind: "top", n: n ?? Infinity };
}

interface StdoutOptions extends RootOptions {
  timeout: number;
  step: number;
  processes?: number;
  regexFilter?: string;
  qemu?: boolean;
}

export function addStdoutCommand(program: Command, env: CliEnvironment): Command {
  const cmd = program.command("stdout").description("print host, socket and top process power to the terminal every step");
  addTimingOptions(cmd);
  cmd
    .addOption(new Option("-p, --processes <n>", "number of top consumers to list (default 5)").argParser(intArg("--processes", 0)).conflicts("regexFilter"))
    .option("-r, --regex-filter <regex>", "list the processes whose exe or cmdline match, instead of the top N", regexArg("--regex-filter"));
  addQemuOption(cmd, env, "label qemu processes with the name of their virtual machine");
  addRootOptions(cmd, env);
  cmd.action(async (options: StdoutOptions, c: Command) => {
    const log = loggerFor(c);
    const filter = regexOrTop(options.regexFilter, options.processes ?? 5);
    if (options.step <= 0) throw new ScaphError("--step must be > 0");
    const m = await openMeter(c, options, env, log, await resolversFor(c, env, log));
    stdoutCarriesReports();
    process.stdout.write(`Measurement step is: ${rustDuration(options.step)}\n`); // Scaphandre's first line, as it prints it
    const sink: Sink = { name: "stdout", write: (s) => void process.stdout.write(formatStdout(s, filter)) };
    await runLoop(m, [sink], { stepS: options.step, timeoutS: options.timeout, signal: interruptSignal(), log });
  });
  return cmd;
}

interface JsonOptions extends RootOptions {
  timeout: number;
  step: number;
  stepNano: number;
  file?: string;
  maxTopConsumers: number;
  processRegex?: string;
  qemu?: boolean;
}

export function addJsonCommand(program: Command, env: CliEnvironment): Command {
  const cmd = program.command("json").description("write Scaphandre-shaped JSON reports (a JSON array) to a file or stdout");
  addTimingOptions(cmd, true);
  cmd
    .option("-n, --step-nano <ns>", "nanoseconds added to --step", intArg("--step-nano", 0), 0)
    // Scaphandre's own spelling, in its documentation and scripts
    .addOption(new Option("--step_nano <ns>").argParser(intArg("--step_nano", 0)).hideHelp())
    .option(
      "-f, --file <path>",
      "write the JSON array to this file instead of stdout: each report is appended in place, the file a complete array after every step",
    )
    .option("-m, --max-top-consumers <n>", "number of top consumers per report", intArg("--max-top-consumers", 0), 10)
    .option("-r, --process-regex <regex>", "list the processes whose exe or cmdline match, instead of the top N", regexArg("--process-regex"))
    .addOption(
      new Option(
        "--container-regex <regex>",
        "with --containers: list the processes of the containers whose name (or pod's name) matches, instead of the top N",
      ).conflicts("processRegex"),
    );
  addQemuOption(cmd, env, "label qemu processes with the name of their virtual machine");
  addRootOptions(cmd, env);
  cmd.action(async (options: JsonOptions & { containerRegex?: string; containers?: boolean }, c: Command) => {
    const log = loggerFor(c);
    if (options.containerRegex !== undefined && !options.containers) throw new ScaphError("--container-regex goes with --containers");
    const filter: ProcessFilter =
      options.containerRegex !== undefined
        ? { kind: "container", re: compileRegex(options.containerRegex), source: options.containerRegex }
        : regexOrTop(options.processRegex, options.maxTopConsumers);
    const stepS = options.step + ((options as { step_nano?: number }).step_nano ?? options.stepNano) / 1e9;
    const stepProblemText = stepProblem(stepS);
    if (stepProblemText !== null) throw new ScaphError(`--step plus --step-nano ${stepProblemText}, got ${stepS} s`);
    const problem = options.file !== undefined ? jsonFileProblem(options.file) : null;
    if (problem !== null) throw new ScaphError(`-f ${problem}`);
    const m = await openMeter(c, options, env, log, await resolversFor(c, env, log));
    if (!options.file) stdoutCarriesReports();
    const out = new JsonSink(options.file ? { file: options.file } : { stream: process.stdout });
    let lastFailed = false;
    const sink: Sink = {
      name: "json",
      write: async (s) => {
        lastFailed = true;
        await out.write(toJsonReport(s, filter));
        lastFailed = false;
      },
      close: () => out.close(),
    };
    await runLoop(m, [sink], { stepS, timeoutS: options.timeout, signal: interruptSignal(), log });
    // a file that could not be written at the end is no complete report: the run failed
    if (lastFailed) process.exitCode = 1;
  });
  return cmd;
}

/** Prometheus exporter flags, shared with `scaph-host qemu --prometheus`. */
export interface PrometheusFlags {
  address: string;
  port: number;
  suffix: string;
  maxProcesses?: number;
  processRegex?: string;
  cmdline: boolean;
  cmdlineMax: number;
}

export function addPrometheusFlags(cmd: Command, suffixShort = true): Command {
  return cmd
    .option("-a, --address <addr>", "address to listen on", "::")
    .option("-p, --port <port>", "TCP port to listen on", intArg("--port", 0), 8080)
    .option(suffixShort ? "-s, --suffix <path>" : "--suffix <path>", "path of the metrics page", "metrics")
    .option("--max-processes <n>", "per-process series: at most the top N consumers (default: every process, as Scaphandre)", intArg("--max-processes", 0))
    .option("-r, --process-regex <regex>", "per-process series: the processes whose exe or cmdline match, instead of the top N", regexArg("--process-regex"))
    .option("--no-cmdline", "no cmdline label on per-process series (qemu command lines run to kilobytes)")
    .option("--cmdline-max <chars>", "longest cmdline label; longer ones are cut", intArg("--cmdline-max", 1), 256);
}

/**
 * The filesystems mounted in this process's own namespace (a container's
 * included), for the disk metrics: read in the background from now on,
 * the newest reading handed out at once.
 */
export function thisMachinesDisks(log: Logger): () => DiskStats[] {
  const reader = new DiskReader({ procRoot: "/proc", sysRoot: "/sys", log });
  void reader.refresh();
  return () => reader.current();
}

/** The Prometheus sink for these flags, listening; loaded only when metrics are served. */
export async function startPrometheus(
  options: PrometheusFlags & Pick<ContainerFlags, "containers" | "containerLabels">,
  qemu: boolean,
  log: Logger,
  program: string,
): Promise<import("../exporters/prometheus.js").PrometheusExporter> {
  const { PrometheusExporter } = await import("../exporters/prometheus.js");
  const exporter = new PrometheusExporter({
    address: options.address,
    port: options.port,
    suffix: options.suffix,
    filter: regexOrTop(options.processRegex, options.maxProcesses),
    qemu,
    cmdlineMax: options.cmdline ? options.cmdlineMax : 0,
    disks: thisMachinesDisks(log),
    ...containerMetrics(options),
    log,
  });
  let url: string;
  try {
    url = await exporter.listen();
  } catch (err) {
    throw new ScaphError(`cannot listen on ${options.address} port ${options.port}: ${errorMessage(err)}`);
  }
  writeStderr(`${program}: serving metrics at ${url}`);
  return exporter;
}

interface PrometheusOptionsCli extends RootOptions, PrometheusFlags {
  step: number;
  qemu?: boolean;
}

export function addPrometheusCommand(program: Command, env: CliEnvironment): Command {
  const cmd = program
    .command("prometheus")
    .description("serve metrics for Prometheus: each scrape gets the newest measurement of a loop that runs every --step");
  addPrometheusFlags(cmd);
  cmd.option("--step <seconds>", "seconds between two measurements; a scrape gets the newest", stepArg("--step"), 2);
  addQemuOption(cmd, env, "label qemu processes with their VM name and add per-VM series");
  addRootOptions(cmd, env);
  cmd.action(async (options: PrometheusOptionsCli, c: Command) => {
    const log = loggerFor(c);
    if (!(options.step > 0)) throw new ScaphError("--step must be > 0");
    const m = await openMeter(c, options, env, log, { hostStats: true, ...(await resolversFor(c, env, log)) });
    const exporter = await startPrometheus(options, options.qemu === true, log, env.program);
    await runLoop(m, [exporter], { stepS: options.step, timeoutS: 0, signal: interruptSignal(), log });
  });
  return cmd;
}
