import type { Command } from "commander";
import {
  addPrometheusFlags,
  addRootOptions,
  errorMessage,
  interruptSignal,
  loggerFor,
  numberArg,
  openMeasurer,
  PowercapSensor,
  prometheusFilter,
  PrometheusExporter,
  runEvery,
  ScaphError,
  writeStderr,
  intArg,
} from "@scaph/common";
import type { CliEnvironment, PrometheusFlags, RootOptions, Sensor } from "@scaph/common";
import { LibvirtDomains } from "../qemu/libvirt-source.js";
import { Propagator } from "../qemu/propagator.js";
import { DEFAULT_LIBVIRT_RUN_DIR, DEFAULT_MAX_VMS, DEFAULT_QEMU_CONF, discoveryPolicy } from "../qemu/policy.js";

export const DEFAULT_BASE_DIR = "/var/lib/libvirt/scaphandre";
export const DEFAULT_CONNECT_URI = "qemu:///system";

interface QemuOptions extends RootOptions, PrometheusFlags {
  prometheus: boolean;
  baseDir: string;
  step: number;
  timeout: number;
  connect: string;
  libvirt: boolean;
  cgroupPath: string;
  vmUser?: string[];
  qemuConf: string;
  libvirtRunDir: string;
  maxVms: number;
}

/** Wrap points of the host's zones by name (`package` for packages). */
export function zoneMaxOf(sensor: Sensor): (name: string) => number | null {
  if (!(sensor instanceof PowercapSensor)) return () => null;
  const zones = sensor.zoneList;
  return (name) => {
    const z = zones.find((x) => (name === "package" ? x.kind === "package" : x.kind === "subdomain" && x.name === name));
    return z?.maxEnergyRangeUj ?? null;
  };
}

export function addQemuCommand(program: Command, env: CliEnvironment): Command {
  const cmd = program
    .command("qemu")
    .description("write each running VM's share of host energy into <base-dir>/<domain>/ as a powercap tree, every step")
    .option("--base-dir <dir>", "where the per-VM trees live", DEFAULT_BASE_DIR)
    .option("-s, --step <seconds>", "seconds between two measurements (fractions allowed)", numberArg("--step", 0), 2)
    .option("-t, --timeout <seconds>", "stop after this many seconds; 0 runs until stopped", numberArg("--timeout"), 0)
    .option("-c, --connect <uri>", "libvirt URI to name VMs by", DEFAULT_CONNECT_URI)
    .option("--no-libvirt", "discover VMs from /proc alone, without libvirt")
    .option("--cgroup-path <dir>", "cgroup root to read VM CPU time from", "/sys/fs/cgroup")
    .option("--vm-user <user...>", "users whose qemu processes are VMs, besides root (default: the user of --qemu-conf, libvirt-qemu, qemu)")
    .option("--qemu-conf <file>", "libvirt's qemu.conf, for its VM user", DEFAULT_QEMU_CONF)
    .option("--libvirt-run-dir <dir>", "where libvirt keeps each running domain's pid file", DEFAULT_LIBVIRT_RUN_DIR)
    .option("--max-vms <n>", "at most this many VMs get a tree", intArg("--max-vms", 1), DEFAULT_MAX_VMS)
    .option("--prometheus", "also serve Prometheus metrics (with vmname and per-VM series) from the same measurement loop", false);
  addPrometheusFlags(cmd, false);
  addRootOptions(cmd, env);
  cmd.action(async (o: QemuOptions, c: Command) => {
    const log = loggerFor(c);
    if (!(o.step > 0)) throw new ScaphError("--step must be > 0");
    const m = await openMeasurer(c, { ...o, qemu: o.prometheus }, env, log);
    const libvirt = o.libvirt ? new LibvirtDomains(o.connect, log) : null;
    const propagator = new Propagator({
      baseDir: o.baseDir,
      procRoot: o.procfsPath,
      cgroupRoot: o.cgroupPath,
      clockTicks: m.table.clockTicks,
      log,
      libvirt,
      zoneMax: zoneMaxOf(m.sensor),
      policy: discoveryPolicy(o, log),
    });
    const exporter = o.prometheus
      ? new PrometheusExporter(
          { address: o.address, port: o.port, suffix: o.suffix, filter: prometheusFilter(o), procRoot: o.procfsPath, minIntervalS: o.minInterval, qemu: true, log },
          null,
        )
      : null;
    if (exporter) {
      try {
        writeStderr(`scaph-host: serving metrics at ${await exporter.listen()}`);
      } catch (err) {
        throw new ScaphError(`cannot listen on ${o.address} port ${o.port}: ${errorMessage(err)}`);
      }
    }
    log.info(`qemu: writing VM trees under ${o.baseDir} every ${o.step} s${libvirt ? `, VMs named by ${o.connect}` : ", without libvirt"}`);
    try {
      await runEvery({ stepS: o.step, timeoutS: o.timeout, signal: interruptSignal() }, async () => {
        try {
          const interval = await m.measure();
          const step = await propagator.step(interval);
          exporter?.update(
            interval.snapshot,
            step.vms.map((v) => ({ name: v.name, energyUj: v.energyUj, powerUw: step.intervalS > 0 ? v.energyUj / step.intervalS : 0 })),
          );
        } catch (err) {
          // A bad step (a sensor read failing, /proc vanishing) is logged; the daemon goes on.
          log.error(`qemu: step failed: ${errorMessage(err)}`);
        }
      });
    } finally {
      await exporter?.close();
      await libvirt?.close();
    }
  });
  return cmd;
}
