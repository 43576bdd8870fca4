import {
  addContainerOptions,
  containerSourceFor,
  addPrometheusFlags,
  addRootOptions,
  interruptSignal,
  intArg,
  loggerFor,
  openMeter,
  stepArg,
  timeoutArg,
  runLoop,
  ScaphError,
  startPrometheus,
  clockTicksPerSecond,
  compileRegex,
  errorMessage,
} from "@scaph/common";
import type { CliEnvironment, Command, ContainerFlags, Logger, PrometheusFlags, RootOptions, Sink } from "@scaph/common";
import { DEFAULT_CHANNEL_DIR, LibvirtDomains } from "../qemu/libvirt-source.js";
import { PodLibvirts } from "../qemu/pod-libvirt.js";
import { DEFAULT_LIBVIRT_RUN_DIR, DEFAULT_MAX_VMS, DEFAULT_QEMU_CONF, discoveryPolicy } from "../qemu/policy.js";
import { VmResolver } from "../qemu/resolver.js";
import type { ResolverOptions } from "../qemu/resolver.js";
import { DELIVERY_GAUGE, deliverySamples } from "../qemu/delivery.js";
import { buildDaemon } from "../qemu/daemon.js";
import { DEFAULT_SUBSTEPS } from "../qemu/tree-sink.js";
import { AutoSetup } from "../qemu/auto-setup.js";

export const DEFAULT_BASE_DIR = "/var/lib/libvirt/scaphandre";
export const DEFAULT_CONNECT_URI = "qemu:///system";
export const DEFAULT_CGROUP_PATH = "/sys/fs/cgroup";

/** Who may run VMs and where their cgroups are: the options of the VM resolver. */
export interface ResolverFlags {
  cgroupPath: string;
  vmUser?: string[];
  qemuConf: string;
  libvirtRunDir: string;
  maxVms: number;
}

/** The VM resolver's flags, on `qemu` and on the exporters' --qemu. */
export function addResolverOptions(cmd: Command): Command {
  return cmd
    .option("--cgroup-path <dir>", "cgroup root to read VM CPU time from", DEFAULT_CGROUP_PATH)
    .option("--vm-user <user...>", "users whose qemu processes are VMs, besides root (default: the user of --qemu-conf, libvirt-qemu, qemu)")
    .option("--qemu-conf <file>", "libvirt's qemu.conf, for its VM user", DEFAULT_QEMU_CONF)
    .option("--libvirt-run-dir <dir>", "where libvirt keeps each running domain's pid file", DEFAULT_LIBVIRT_RUN_DIR)
    .option("--max-vms <n>", "at most this many VMs", intArg("--max-vms", 1), DEFAULT_MAX_VMS);
}

/** The VM resolver's options from the CLI's flags: /proc and cgroup roots, who may run VMs, libvirt and each pod's. */
export function resolverOptions(
  options: RootOptions & ResolverFlags,
  clockTicks: number,
  log: Logger,
  libvirt: LibvirtDomains | null,
  pods?: PodLibvirts,
): Omit<ResolverOptions, "log"> {
  return {
    procRoot: options.procfsPath,
    cgroupRoot: options.cgroupPath,
    clockTicks,
    policy: discoveryPolicy(options, log),
    libvirt,
    ...(pods ? { pods } : {}),
  };
}

export function vmResolver(
  options: RootOptions & ResolverFlags,
  clockTicks: number,
  log: Logger,
  libvirt: LibvirtDomains | null,
  pods?: PodLibvirts,
): VmResolver {
  return new VmResolver({ ...resolverOptions(options, clockTicks, log, libvirt, pods), log });
}

interface QemuOptions extends RootOptions, PrometheusFlags, ResolverFlags, Omit<ContainerFlags, "procfsPath"> {
  prometheus: boolean;
  baseDir: string;
  step: number;
  timeout: number;
  connect: string;
  libvirt: boolean;
  channelDir: string;
  autoSetup: boolean;
  domains?: string;
  substeps: number;
}

export function addQemuCommand(program: Command, env: CliEnvironment): Command {
  const cmd = program
    .command("qemu")
    .description("give each running VM its share of host energy every step: a powercap tree in <base-dir>/<domain>/, or lines over its channel")
    .option("--base-dir <dir>", "where the per-VM trees live", DEFAULT_BASE_DIR)
    .option("-s, --step <seconds>", "seconds between two measurements (fractions allowed)", stepArg("--step"), 2)
    .option("-t, --timeout <seconds>", "stop after this many seconds; 0 runs until stopped", timeoutArg("--timeout"), 0)
    .option("-c, --connect <uri>", "libvirt URI to name VMs by", DEFAULT_CONNECT_URI)
    .option("--no-libvirt", "discover VMs from /proc alone, without libvirt (no channel transport then)")
    .option("--channel-dir <dir>", "where libvirt makes the channels' sockets (to see a hot-plugged channel at once)", DEFAULT_CHANNEL_DIR)
    .option(
      "--auto-setup",
      "give every domain the channel transport: added to its XML whenever it is defined (Nova's rewrites too), hot-plugged when it starts (libvirt's events)",
      false,
    )
    .option("--domains <regex>", "with --auto-setup: only the domains whose name matches (e.g. '^instance-' for OpenStack Nova's)")
    .option(
      "--substeps <n>",
      "frames a VM's tree moves in over a step: each step's energy is shown over the next step, so that a reader with its own period finds its window's energy (1: once a step, at once)",
      intArg("--substeps", 1, 100),
      DEFAULT_SUBSTEPS,
    );
  addResolverOptions(cmd);
  cmd.option("--prometheus", "also serve Prometheus metrics (with vmname and per-VM series) from the same measurement loop", false);
  addPrometheusFlags(cmd, false);
  addContainerOptions(cmd);
  addRootOptions(cmd, env);
  cmd.action(async (options: QemuOptions, c: Command) => {
    const log = loggerFor(c);
    if (!(options.step > 0)) throw new ScaphError("--step must be > 0");
    if (options.autoSetup && !options.libvirt) throw new ScaphError("--auto-setup works through libvirt: it cannot go with --no-libvirt");
    if (options.domains !== undefined && !options.autoSetup) throw new ScaphError("--domains narrows --auto-setup: give both");
    const domains = options.domains !== undefined ? compileRegex(options.domains) : null;
    const libvirt = options.libvirt ? new LibvirtDomains(options.connect, log, 5000, options.channelDir) : null;
    let auto: AutoSetup | null = null;
    try {
      await libvirt?.refresh(); // the first step already joins with libvirt
      const containers = containerSourceFor(options, log);
      const daemon = await buildDaemon({
        baseDir: options.baseDir,
        log,
        substeps: options.substeps,
        // with libvirt, each KubeVirt pod's too (its qemu's /proc/PID/root): its domain's channel
        resolver: resolverOptions(options, clockTicksPerSecond(), log, libvirt, libvirt ? new PodLibvirts(options.procfsPath, log) : undefined),
        // RAPL readable, or the fix named
        // the trees, channels and status file read no process: only --prometheus keeps them
        openMeter: (vms) =>
          openMeter(c, options, env, log, { vms, hostStats: options.prometheus, keepProcesses: options.prometheus, ...(containers ? { containers } : {}) }),
      });
      const sinks: Sink[] = [...daemon.sinks];
      if (options.prometheus) {
        const exporter = await startPrometheus(options, true, log, "scaph-host");
        exporter.addGauge(DELIVERY_GAUGE.name, DELIVERY_GAUGE.help, () => deliverySamples([daemon.trees, daemon.channels]));
        sinks.push(exporter);
      }
      log.info(`qemu: writing VM trees under ${options.baseDir} every ${options.step} s${libvirt ? `, VMs named by ${options.connect}` : ", without libvirt"}`);
      if (options.autoSetup) {
        auto = new AutoSetup({ uri: options.connect, domains, log });
        await auto.start().catch((err: unknown) => {
          throw new ScaphError(
            `--auto-setup: cannot open a read-write connection to ${options.connect}: ${errorMessage(err)}\n  It changes domains: run scaph-host qemu as root.`,
          );
        });
      }
      await runLoop(daemon.meter, sinks, { stepS: options.step, timeoutS: options.timeout, signal: interruptSignal(), log });
    } finally {
      await auto?.close();
      await libvirt?.close();
    }
  });
  return cmd;
}
