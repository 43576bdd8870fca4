// The light part of @scaph/common: what every command loads. The Prometheus
// exporter is "@scaph/common/prometheus", loaded only where
// metrics are served.
export * from "./units.js";
export * from "./errors.js";
export * from "./log.js";
export * from "./version.js";
export * from "./io/bounded.js";
export * from "./io/atomic.js";
export * from "./powercap/counter.js";
export * from "./powercap/zones.js";
export * from "./powercap/read.js";
export * from "./procfs/files.js";
export * from "./procfs/stat.js";
export * from "./procfs/pid-stat.js";
export * from "./procfs/clock.js";
export * from "./procfs/table.js";
export * from "./procfs/host.js";
export * from "./procfs/mountinfo.js";
export * from "./procfs/disks.js";
export * from "./sensor/types.js";
export * from "./sensor/powercap.js";
export * from "./sensor/estimate.js";
export * from "./sensor/factory.js";
export * from "./attribution/energy.js";
export * from "./attribution/share.js";
export * from "./attribution/snapshot.js";
export * from "./attribution/vm-zones.js";
export * from "./attribution/attribute.js";
export * from "./meter.js";
export * from "./loop.js";
export * from "./exporters/sink.js";
export * from "./exporters/select.js";
export * from "./exporters/stdout.js";
export * from "./exporters/json.js";
export * from "./exporters/metrics.js";
export * from "./exporters/totals.js";
export * from "./cli/parse.js";
export * from "./cli/context.js";
export * from "./cli/commands.js";
export * from "./cli/main.js";
export * from "./share.js";
export * from "./channel.js";
// commander, re-exported: host and guest build their programs with this one copy (two copies' errors are not each other's).
export { Command, CommanderError, InvalidArgumentError, Option } from "commander";
export * from "./cli/push-commands.js";
