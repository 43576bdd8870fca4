/**
 * The exporters that send (Scaphandre's riemann, warp10 and
 * prometheus-push): one more sink of the measurement loop each, on
 * scaph-host and scaph-guest alike. Their modules (protobufjs for Riemann)
 * load only when the command runs.
 */
import { readFileSync } from "node:fs";
import { Option } from "commander";
import type { Command } from "commander";
import { errnoCode, ScaphError, errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import { writeStderr } from "../log.js";
import type { MetricsOptions } from "../exporters/metrics.js";
import type { Sink } from "../exporters/sink.js";
import { runLoop } from "../loop.js";
import { addQemuOption, addRootOptions, regexOrTop, resolversFor, thisMachinesDisks } from "./commands.js";
import { containerMetrics } from "./containers.js";
import { interruptSignal, loggerFor, openMeter } from "./context.js";
import type { CliEnvironment, RootOptions } from "./context.js";
import { hostArg, intArg, regexArg, stepArg } from "./parse.js";

interface ProcessFlags {
  maxProcesses?: number;
  processRegex?: string;
  cmdline: boolean;
  cmdlineMax: number;
  qemu?: boolean;
  containers?: boolean;
  containerLabels?: string;
}

/** Which processes get series, as on the Prometheus exporter. */
function addProcessFlags(cmd: Command): Command {
  return cmd
    .option("--max-processes <n>", "per-process series: at most the top N consumers (default: every process, as Scaphandre)", intArg("--max-processes", 0))
    .option("-r, --process-regex <regex>", "per-process series: the processes whose exe or cmdline match, instead of the top N", regexArg("--process-regex"))
    .option("--no-cmdline", "no cmdline label on per-process series")
    .option("--cmdline-max <chars>", "longest cmdline label; longer ones are cut", intArg("--cmdline-max", 1), 256);
}

function metricsOptions(options: ProcessFlags, log: Logger): MetricsOptions {
  return {
    filter: regexOrTop(options.processRegex, options.maxProcesses),
    qemu: options.qemu === true,
    cmdlineMax: options.cmdline ? options.cmdlineMax : 0,
    disks: thisMachinesDisks(log),
    ...containerMetrics(options),
  };
}

/** The loop of a sending exporter: measure every `stepS` and hand each Snapshot to `sink`, until stopped. */
async function runSending(
  c: Command,
  options: RootOptions & ProcessFlags,
  env: CliEnvironment,
  log: Logger,
  stepS: number,
  open: () => Promise<{ sink: Sink; says: string }>,
): Promise<void> {
  if (!(stepS > 0)) throw new ScaphError("the step must be > 0");
  const m = await openMeter(c, options, env, log, { hostStats: true, ...(await resolversFor(c, env, log)) });
  const { sink, says } = await open();
  writeStderr(`${env.program}: ${says}, every ${stepS} s`);
  await runLoop(m, [sink], { stepS, timeoutS: 0, signal: interruptSignal(), log });
}

/** `scheme://host:port`, an IPv6 address in brackets. */
function baseUrl(scheme: string, host: string, port: number): URL {
  return new URL(`${scheme}://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`);
}

function port(flag: string): (v: string) => number {
  const parse = intArg(flag, 1);
  return (v) => {
    const n = parse(v);
    if (n > 65535) throw new ScaphError(`${flag} must be a TCP port (1-65535), not ${v}`);
    return n;
  };
}

/** A PEM file of --ca, --cert or --key, read at start: a missing one is said at once. */
function pem(flag: string, path: string | undefined): Buffer {
  if (!path) throw new ScaphError(`--mtls needs --ca, --cert and --key (PEM files): ${flag} is missing`);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ScaphError(`${flag} ${path}: cannot read it (${errnoCode(err) ?? errorMessage(err)})`);
  }
}

interface RiemannCli extends RootOptions, ProcessFlags {
  address: string;
  port: number;
  dispatch: number;
  mtls: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

export function addRiemannCommand(program: Command, env: CliEnvironment): Command {
  const cmd = program
    .command("riemann")
    .description("send every metric as Riemann events, in one message per dispatch, over TCP or mutual TLS")
    .option("-a, --address <host>", "Riemann's address; with --mtls, its name as in its certificate", hostArg("--address"), "localhost")
    .option("-p, --port <port>", "Riemann's TCP port", port("--port"), 5555)
    .option("-d, --dispatch <seconds>", "seconds between two dispatches (and measurements)", stepArg("--dispatch"), 5)
    .option("--mtls", "connect with mutual TLS: needs --ca, --cert and --key", false)
    .option("--ca <file>", "CA certificate that signed the server's (PEM)")
    .option("--cert <file>", "client certificate (PEM)")
    .option("--key <file>", "client private key (PEM)");
  addProcessFlags(cmd);
  addQemuOption(cmd, env, "label qemu processes with their VM name and add per-VM events");
  addRootOptions(cmd, env);
  cmd.action(async (options: RiemannCli, c: Command) => {
    const log = loggerFor(c);
    if (!options.mtls && (options.ca || options.cert || options.key)) throw new ScaphError("--ca, --cert and --key go with --mtls");
    const tls = options.mtls ? { ca: pem("--ca", options.ca), cert: pem("--cert", options.cert), key: pem("--key", options.key) } : undefined;
    await runSending(c, options, env, log, options.dispatch, async () => {
      const { RiemannSink } = await import("../exporters/riemann/sink.js");
      const sink = new RiemannSink({ ...metricsOptions(options, log), host: options.address, port: options.port, log, ...(tls ? { tls } : {}) });
      return { sink, says: `sending events to riemann at ${options.address}:${options.port}${tls ? " (mutual TLS)" : ""}` };
    });
  });
  return cmd;
}

interface Warp10Cli extends RootOptions, ProcessFlags {
  host: string;
  port: number;
  scheme: "http" | "https";
  step: number;
  writeToken?: string;
}

export function addWarp10Command(program: Command, env: CliEnvironment): Command {
  const cmd = program
    .command("warp10")
    .alias("warpten")
    .description("send every metric to Warp 10 (its /api/v0/update, GTS input format) every step")
    .option("-H, --host <host>", "Warp 10's host name or address", hostArg("--host"), "localhost")
    .option("-p, --port <port>", "Warp 10's TCP port", port("--port"), 8080)
    .addOption(new Option("-s, --scheme <scheme>", "http or https").choices(["http", "https"]).default("http"))
    .option("-S, --step <seconds>", "seconds between two measurements (and updates)", stepArg("--step"), 30)
    .option("-t, --write-token <token>", "Warp 10's write token (default: the environment's SCAPH_WARP10_WRITE_TOKEN)");
  addProcessFlags(cmd);
  addQemuOption(cmd, env, "label qemu processes with their VM name and add per-VM series");
  addRootOptions(cmd, env);
  cmd.action(async (options: Warp10Cli, c: Command) => {
    const log = loggerFor(c);
    const token = options.writeToken ?? process.env.SCAPH_WARP10_WRITE_TOKEN;
    if (!token) throw new ScaphError("warp10 needs a write token: --write-token TOKEN, or SCAPH_WARP10_WRITE_TOKEN in the environment");
    const base = baseUrl(options.scheme, options.host, options.port);
    await runSending(c, options, env, log, options.step, async () => {
      const { Warp10Sink } = await import("../exporters/push/warp10.js");
      return { sink: new Warp10Sink({ ...metricsOptions(options, log), base, token, log }), says: `sending series to warp10 at ${base.href}api/v0/update` };
    });
  });
  return cmd;
}

interface PushCli extends RootOptions, ProcessFlags {
  host: string;
  port: number;
  suffix: string;
  scheme: "http" | "https";
  step: number;
  job: string;
  tlsCheck: boolean;
}

export function addPrometheusPushCommand(program: Command, env: CliEnvironment): Command {
  const cmd = program
    .command("prometheus-push")
    .description("push every metric to a Prometheus Pushgateway every step (job, and this host's name as instance)")
    .option("-H, --host <host>", "the Pushgateway's host name or address", hostArg("--host"), "localhost")
    .option("-p, --port <port>", "the Pushgateway's TCP port", port("--port"), 9091)
    .option("--suffix <path>", "the Pushgateway's path before /job/...", "metrics")
    .addOption(new Option("-S, --scheme <scheme>", "http or https").choices(["http", "https"]).default("http"))
    .option("-s, --step <seconds>", "seconds between two measurements (and pushes)", stepArg("--step"), 30)
    .option("-j, --job <name>", "the job of the grouping key", "scaphandre")
    .option("--no-tls-check", "https: accept any certificate");
  addProcessFlags(cmd);
  addQemuOption(cmd, env, "label qemu processes with their VM name and add per-VM series");
  addRootOptions(cmd, env);
  cmd.action(async (options: PushCli, c: Command) => {
    const log = loggerFor(c);
    if (options.job === "") throw new ScaphError("--job must not be empty");
    const base = baseUrl(options.scheme, options.host, options.port);
    await runSending(c, options, env, log, options.step, async () => {
      const { PrometheusPushSink } = await import("../exporters/push/prometheus-push.js");
      const sink = new PrometheusPushSink({
        ...metricsOptions(options, log),
        base,
        suffix: options.suffix,
        job: options.job,
        insecure: !options.tlsCheck,
        log,
      });
      return { sink, says: `pushing metrics to ${sink.url.href}` };
    });
  });
  return cmd;
}
