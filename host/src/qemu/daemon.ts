/**
 * The qemu daemon, wired in one place for the CLI (`scaph-host qemu`) and
 * the tests alike: the VM resolver (with libvirt and each pod's), the meter
 * over it, and the sinks a step is handed to: each VM's tree, each VM's
 * channel, then the status file, which says what the other two delivered at
 * the same step (so it comes last).
 */
import type { Logger, Meter, Sink, Snapshot, VmSource } from "@scaph/common";
import { checkBaseDir } from "./base-dir.js";
import { ChannelSink } from "./channel-sink.js";
import { VmResolver } from "./resolver.js";
import type { ResolverOptions } from "./resolver.js";
import { StatusSink } from "./status-sink.js";
import { VmTreeSink } from "./tree-sink.js";

export interface DaemonOptions {
  /** Where the VM trees and the status file live: made if missing, and checked writable before any step. */
  baseDir: string;
  log: Logger;
  /** Frames a VM's tree moves in over a step (--substeps). */
  substeps?: number;
  /** Where the VMs are found: /proc and cgroup roots, who may run them (and how many), libvirt and each pod's. */
  resolver: Omit<ResolverOptions, "log">;
  /** Opens the meter over the VMs: the CLI's checks RAPL (or names the fix); a test's reads a fixture on a fake clock. */
  openMeter(vms: VmSource): Promise<Meter>;
}

export interface Daemon {
  meter: Meter;
  resolver: VmResolver;
  trees: VmTreeSink;
  channels: ChannelSink;
  status: StatusSink;
  /** In the order a step is handed to them. */
  sinks: Sink[];
  /** Measures one step and hands it to each sink in order, as the run loop does. */
  step(): Promise<Snapshot>;
  /** Closes the channels and the trees' open handles (libvirt is the caller's: it may outlive a daemon). */
  close(): void;
}

export async function buildDaemon(options: DaemonOptions): Promise<Daemon> {
  const { baseDir, log } = options;
  const resolver = new VmResolver({ ...options.resolver, log });
  const meter = await options.openMeter(resolver);
  checkBaseDir(baseDir);
  const maxVms = options.resolver.policy.maxVms;
  const trees = new VmTreeSink({ baseDir, log, maxVms, ...(options.substeps !== undefined ? { substeps: options.substeps } : {}) });
  const channels = new ChannelSink(log);
  const status = new StatusSink({ baseDir, log, deliveries: [trees, channels] });
  const sinks: Sink[] = [trees, channels, status];
  return {
    meter,
    resolver,
    trees,
    channels,
    status,
    sinks,
    async step() {
      const snapshot = meter.measure();
      for (const sink of sinks) await sink.write(snapshot);
      return snapshot;
    },
    close() {
      channels.close();
      trees.close();
    },
  };
}
