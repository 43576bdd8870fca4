// @scaph/common's main entry: what every command loads, and what the other
// packages use of it (and nothing else: the rest stays inside the package).
// The exporters that open sockets or load more (Prometheus, Riemann, Warp 10,
// the Pushgateway) have entries of their own (package.json "exports"), loaded
// only where used.
export type { Ticks } from "./units.js";
export { NoPowercapError, ProcfsError, ScaphError, errnoCode, errorMessage } from "./errors.js";
export { LogEvery, createLogger, silentLogger, writeStderr } from "./log.js";
export type { Logger } from "./log.js";
export { SCAPH_VERSION } from "./version.js";
export { excerpt, readBounded } from "./io/bounded.js";
export { removeAnything, replaceFile, replaceVia } from "./io/atomic.js";
export type { ReplaceOps } from "./io/atomic.js";
export { counterDelta, isCounterReset, wrapAdd } from "./powercap/counter.js";
export { CATCH_UP, CounterPlayer, FrameTimer } from "./powercap/ramp.js";
export type { Frame } from "./powercap/ramp.js";
export { DEFAULT_MAX_UJ, HOST_CLOCK_FILE, HOST_CLOCK_TEXT, VM_PACKAGE_ZONE, ZONE_ID_RE, ZONE_NAME_RE } from "./powercap/layout.js";
export { discoverZones, zoneOf } from "./powercap/zones.js";
export type { Zone } from "./powercap/zones.js";
export { CounterReadError, parseUj, readEnergyUj } from "./powercap/read.js";
export { readText } from "./procfs/files.js";
export { busyTicks, parseProcStat } from "./procfs/stat.js";
export { parsePidStatBytes } from "./procfs/pid-stat.js";
export { clockTicksPerSecond } from "./procfs/clock.js";
export { ProcessTable } from "./procfs/table.js";
export type { ProcSample, ProcessInfo } from "./procfs/table.js";
export { FD_RESERVE, StatFiles } from "./procfs/stat-files.js";
export { mountAt, resolvedPath } from "./procfs/mountinfo.js";
export type { EnergySample, Sensor } from "./sensor/types.js";
export { PowercapSensor } from "./sensor/powercap.js";
export { createSensor } from "./sensor/factory.js";
export { cpuShares, splitEnergy } from "./attribution/cpu-shares.js";
export type { ProcessSnapshot, Snapshot, VmSnapshot } from "./attribution/snapshot.js";
export { snapshotVmZones } from "./attribution/vm-zones.js";
export type { ZoneSpec } from "./attribution/vm-zones.js";
export { processDeltaTicks } from "./attribution/attribute.js";
export type { VmClaim } from "./attribution/attribute.js";
export { CGROUP_FILE_BOUND, parseCgroup } from "./containers/cgroup.js";
export type { CgroupContainer } from "./containers/cgroup.js";
export { containerLabels } from "./containers/info.js";
export { ContainerSource } from "./containers/source.js";
export { DOCKER_LIMITS, DockerApi } from "./containers/docker.js";
export { addContainerOptions, containerSourceFor } from "./cli/containers.js";
export type { ContainerFlags } from "./cli/containers.js";
export { Meter } from "./meter.js";
export type { VmSource } from "./meter.js";
export { runEvery, runLoop } from "./loop.js";
export type { Sink } from "./exporters/sink.js";
export { compileRegex } from "./exporters/select.js";
export { formatStdout, formatWatts, rustDuration } from "./exporters/stdout.js";
export { JsonSink, toJsonReport } from "./exporters/json.js";
export type { JsonReport } from "./exporters/json.js";
export { MetricsModel } from "./exporters/metrics.js";
export { intArg, stepArg, timeoutArg } from "./cli/parse.js";
export { interruptSignal, loggerFor, openMeter } from "./cli/context.js";
export type { CliEnvironment, RootOptions } from "./cli/context.js";
export {
  acceptGlobalOptionsAfterSubcommands,
  acceptScaphandreFlags,
  addGlobalOptions,
  addJsonCommand,
  addPrometheusCommand,
  addPrometheusFlags,
  addRootOptions,
  addStdoutCommand,
  startPrometheus,
} from "./cli/commands.js";
export type { PrometheusFlags } from "./cli/commands.js";
export { runCli } from "./cli/main.js";
export { GUEST_MOUNT_POINT, SHARE_TAG, SHARE_TRANSPORTS, TRANSPORTS, guestFstabLine, guestMountArgs, guestMountCommand } from "./transports.js";
export type { ShareTransport, Transport } from "./transports.js";
export { CHANNEL_MAX_LINE, CHANNEL_NAME, encodeMessage, parseMessage } from "./channel.js";
export type { ChannelMessage, ChannelZone } from "./channel.js";
// commander, re-exported: host and guest build their programs with this one copy (two copies' errors are not each other's).
export { Command, CommanderError, InvalidArgumentError, Option } from "commander";
export { addPrometheusPushCommand, addRiemannCommand, addWarp10Command } from "./cli/push-commands.js";
