import { Command, Option } from "commander";
import { ScaphError, errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import type { Measurer } from "../measure.js";
import type { Snapshot } from "../attribution/snapshot.js";
import { JsonSink, toJsonReport } from "../exporters/json.js";
import { compileRegex } from "../exporters/select.js";
import type { ProcessFilter } from "../exporters/select.js";
import { formatStdout } from "../exporters/stdout.js";
import { PrometheusExporter } from "../exporters/prometheus.js";
import { runEvery } from "../loop.js";
import { DEFAULT_IDLE_WATTS, DEFAULT_TDP_WATTS } from "../sensor/estimate.js";
import { SENSOR_NAMES } from "../sensor/factory.js";
import { interruptSignal, loggerFor, openMeasurer } from "./context.js";
import type { CliEnvironment, RootOptions } from "./context.js";
import { countVerbose, intArg, numberArg } from "./parse.js";
import { stdoutCarriesReports } from "./main.js";
import { writeStderr } from "../log.js";

/**
 * One measurement; a failed read (a malformed or vanished energy_uj) is
 * logged and the step skipped: the next step measures from the last good
 * reading, so no energy is lost and the loop goes on.
 */
export async function measureOrSkip(m: Measurer, log: Logger): Promise<Snapshot | null> {
  try {
    return (await m.measure()).snapshot;
  } catch (err) {
    log.error(`step skipped: ${errorMessage(err)}`);
    return null;
  }
}

/** Options every CLI takes before its subcommand (as in Scaphandre). */
export function addGlobalOptions(program: Command): Command {
  return program
    .enablePositionalOptions()
    .addOption(
      new Option("-s, --sensor <name>", "sensor that reads energy").choices([...SENSOR_NAMES]).default("powercap_rapl"),
    )
    .addOption(
      new Option("--tdp-watts <W>", `estimate sensor: package power at 100% CPU, in W (default ${DEFAULT_TDP_WATTS})`).argParser(
        numberArg("--tdp-watts", 0),
      ),
    )
    .addOption(
      new Option("--idle-watts <W>", `estimate sensor: package power at 0% CPU, in W (default ${DEFAULT_IDLE_WATTS})`).argParser(
        numberArg("--idle-watts", 0),
      ),
    )
    .option("-v, --verbose", "more log output on stderr (-v info, -vv debug)", countVerbose, 0)
    .showHelpAfterError();
}

/** --powercap-path and --procfs-path, with the environment's defaults. */
export function addRootOptions(cmd: Command, env: CliEnvironment): Command {
  env.extendCommand?.(cmd);
  return cmd
    .option("--powercap-path <dir>", "powercap root to read RAPL zones from", env.defaultPowercapPath())
    .option("--procfs-path <dir>", "procfs root to read CPU time from", "/proc");
}

function addTimingOptions(cmd: Command): Command {
  return cmd
    .option("-t, --timeout <seconds>", "how long to run; 0 or less runs until Ctrl-C", numberArg("--timeout"), 10)
    .option("-s, --step <seconds>", "seconds between two measurements", numberArg("--step", 0), 2);
}

interface StdoutOptions extends RootOptions {
  timeout: number;
  step: number;
  processes?: number;
  regexFilter?: string;
  qemu?: boolean;
}

export function addStdoutCommand(program: Command, env: CliEnvironment): Command {
  const cmd = program
    .command("stdout")
    .description("print host, socket and top process power to the terminal every step");
  addTimingOptions(cmd);
  cmd
    .addOption(
      new Option("-p, --processes <n>", "number of top consumers to list (default 5)")
        .argParser(intArg("--processes", 0))
        .conflicts("regexFilter"),
    )
    .option("-r, --regex-filter <regex>", "list the processes whose exe or cmdline match, instead of the top N");
  if (env.labeler) cmd.option("-q, --qemu", "label qemu processes with the name of their virtual machine");
  addRootOptions(cmd, env);
  cmd.action(async (o: StdoutOptions, c: Command) => {
    const log = loggerFor(c);
    const filter: ProcessFilter = o.regexFilter
      ? { kind: "regex", re: compileRegex(o.regexFilter), source: o.regexFilter }
      : { kind: "top", n: o.processes ?? 5 };
    if (o.step <= 0) throw new ScaphError("--step must be > 0");
    const m = await openMeasurer(c, o, env, log);
    stdoutCarriesReports();
    await runEvery({ stepS: o.step, timeoutS: o.timeout, signal: interruptSignal() }, async () => {
      const snapshot = await measureOrSkip(m, log);
      if (snapshot) process.stdout.write(formatStdout(snapshot, filter));
    });
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
  addTimingOptions(cmd);
  cmd
    .option("-n, --step-nano <ns>", "nanoseconds added to --step", intArg("--step-nano", 0), 0)
    .option("-f, --file <path>", "write the JSON array to this file (rewritten atomically each step) instead of stdout")
    .option("-m, --max-top-consumers <n>", "number of top consumers per report", intArg("--max-top-consumers", 0), 10)
    .option("-r, --process-regex <regex>", "list the processes whose exe or cmdline match, instead of the top N");
  if (env.labeler) cmd.option("-q, --qemu", "label qemu processes with the name of their virtual machine");
  addRootOptions(cmd, env);
  cmd.action(async (o: JsonOptions, c: Command) => {
    const log = loggerFor(c);
    const filter: ProcessFilter = o.processRegex
      ? { kind: "regex", re: compileRegex(o.processRegex), source: o.processRegex }
      : { kind: "top", n: o.maxTopConsumers };
    const stepS = o.step + o.stepNano / 1e9;
    if (stepS <= 0) throw new ScaphError("--step plus --step-nano must be > 0");
    const m = await openMeasurer(c, o, env, log);
    if (!o.file) stdoutCarriesReports();
    const sink = new JsonSink(o.file ? { file: o.file } : { stream: process.stdout });
    try {
      await runEvery({ stepS, timeoutS: o.timeout, signal: interruptSignal() }, async () => {
        const snapshot = await measureOrSkip(m, log);
        if (snapshot) await sink.write(toJsonReport(snapshot, filter));
      });
    } finally {
      await sink.close();
    }
  });
  return cmd;
}

/** Prometheus exporter flags, shared with `scaph-host qemu --prometheus`. */
export interface PrometheusFlags {
  address: string;
  port: number;
  suffix: string;
  maxProcesses: number;
  processRegex?: string;
  minInterval: number;
}

export function addPrometheusFlags(cmd: Command, suffixShort = true): Command {
  return cmd
    .option("-a, --address <addr>", "address to listen on", "::")
    .option("-p, --port <port>", "TCP port to listen on", intArg("--port", 0), 8080)
    .option(suffixShort ? "-s, --suffix <path>" : "--suffix <path>", "path of the metrics page", "metrics")
    .option("--max-processes <n>", "per-process series: the top N consumers", intArg("--max-processes", 0), 20)
    .option("-r, --process-regex <regex>", "per-process series: the processes whose exe or cmdline match, instead of the top N")
    .option("--min-interval <seconds>", "a scrape measures anew only if the last measurement is at least this old", numberArg("--min-interval", 0), 1);
}

export function prometheusFilter(o: PrometheusFlags): ProcessFilter {
  return o.processRegex ? { kind: "regex", re: compileRegex(o.processRegex), source: o.processRegex } : { kind: "top", n: o.maxProcesses };
}

interface PrometheusOptionsCli extends RootOptions, PrometheusFlags {
  qemu?: boolean;
}

export function addPrometheusCommand(program: Command, env: CliEnvironment): Command {
  const cmd = program.command("prometheus").description("serve metrics for Prometheus; values are measured at scrape time");
  addPrometheusFlags(cmd);
  if (env.labeler) cmd.option("-q, --qemu", "label qemu processes with their VM name and add per-VM series");
  addRootOptions(cmd, env);
  cmd.action(async (o: PrometheusOptionsCli, c: Command) => {
    const log = loggerFor(c);
    const filter = prometheusFilter(o);
    const m = await openMeasurer(c, o, env, log);
    const exporter = new PrometheusExporter(
      { address: o.address, port: o.port, suffix: o.suffix, filter, procRoot: o.procfsPath, minIntervalS: o.minInterval, qemu: o.qemu === true, log },
      async () => (await m.measure()).snapshot,
    );
    let url: string;
    try {
      url = await exporter.listen();
    } catch (err) {
      throw new ScaphError(`cannot listen on ${o.address} port ${o.port}: ${(err as Error).message}`);
    }
    writeStderr(`${env.program}: serving metrics at ${url}`);
    const signal = interruptSignal();
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    await exporter.close();
  });
  return cmd;
}
