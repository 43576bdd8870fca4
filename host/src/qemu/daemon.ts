/**
 * The qemu daemon's sinks, wired in one place for the CLI (`scaph-host
 * qemu`) and the tests alike: each VM's tree, each VM's channel, then the
 * status file, which says what the other two delivered at the same step
 * (so it comes last).
 */
import type { Logger, Sink } from "@scaph/common";
import { ChannelSink } from "./channel-sink.js";
import { StatusSink } from "./status-sink.js";
import { VmTreeSink } from "./tree-sink.js";

export interface DaemonSinks {
  trees: VmTreeSink;
  channels: ChannelSink;
  status: StatusSink;
  /** In the order a step is handed to them. */
  sinks: Sink[];
}

export function buildDaemonSinks(options: { baseDir: string; log: Logger; maxVms: number; substeps?: number }): DaemonSinks {
  const trees = new VmTreeSink(options);
  const channels = new ChannelSink(options.log);
  const status = new StatusSink({ baseDir: options.baseDir, log: options.log, deliveries: [trees, channels] });
  return { trees, channels, status, sinks: [trees, channels, status] };
}
