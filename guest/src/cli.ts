import {
  Command,
  Option,
  acceptGlobalOptionsAfterSubcommands,
  acceptScaphandreFlags,
  addGlobalOptions,
  addJsonCommand,
  addPrometheusCommand,
  addPrometheusPushCommand,
  addRiemannCommand,
  addStdoutCommand,
  addWarp10Command,
  GUEST_MOUNT_POINT,
  CHANNEL_NAME,
  interruptSignal,
  intArg,
  loggerFor,
  SCAPH_VERSION,
  ScaphError,
  SHARE_TRANSPORTS,
  writeStderr,
} from "@scaph/common";
import type { CliEnvironment, RootOptions, ShareTransport as Transport } from "@scaph/common";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ChannelReceiver } from "./channel/receiver.js";
import { CHANNEL_STATE_FILE } from "./channel/state-file.js";
import { ChannelSensor } from "./channel/sensor.js";
import { CHANNEL_DEFAULTS, firstLine, portFinder, startReceiver } from "./channel/start.js";
import type { ChannelFlags } from "./channel/start.js";
import { DEFAULT_GUEST_SUBSTEPS } from "./channel/tree-writer.js";
import { mountShare } from "./mount.js";
import { waitForTree } from "./wait.js";

/** The tree's path: SCAPHANDRE_POWERCAP_PATH (as Scaphandre's --vm sensor reads it), else /var/scaphandre. */
export function guestPowercapPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.SCAPHANDRE_POWERCAP_PATH || GUEST_MOUNT_POINT;
}

/** Adds the channel options (scaph-guest channel, and every exporter). */
function addChannelOptions(cmd: Command): Command {
  return cmd
    .option("--channel-port <name>", "the channel's virtio-serial port", CHANNEL_DEFAULTS.channelPort)
    .option("--channel-device <path>", "the port's device, where it cannot be found by name")
    .option("--sysfs-path <dir>", "sysfs root, to find the port", CHANNEL_DEFAULTS.sysfsPath)
    .option("--dev-path <dir>", "devfs root, to find the port", CHANNEL_DEFAULTS.devPath)
    .option("--no-tmpfs", "keep the tree where it is (--path, --powercap-path), without mounting a tmpfs there")
    .option(
      "--substeps <n>",
      "frames the tree moves in over the host time each line covers, so that a reader with its own period finds its window's energy (1: each line at once)",
      intArg("--substeps", 1, 100),
      DEFAULT_GUEST_SUBSTEPS,
    );
}

type GuestOptions = RootOptions & Record<string, unknown> & ChannelFlags & { wait?: boolean; channel?: boolean; timeout?: number };

/** A command's -t, where it has one and it bounds the run (> 0): the wait for the tree or the channel is within it. */
const waitBoundS = (options: GuestOptions): number | undefined => (typeof options.timeout === "number" && options.timeout > 0 ? options.timeout : undefined);

/** The channel receiver of this run, where the port exists: started once, used as the sensor. */
let receiver: ChannelReceiver | null = null;

export const guestEnvironment: CliEnvironment = {
  program: "scaph-guest",
  defaultPowercapPath: () => guestPowercapPath(),
  extendCommand: (cmd) => {
    cmd.option("--no-wait", "exit 1 at once if neither the tree nor the channel has data, instead of waiting");
    cmd.option("--no-channel", "read the tree only, even where the channel's port exists");
    addChannelOptions(cmd);
  },
  beforeOpen: async (cmd, log) => {
    const o = cmd.opts<GuestOptions>();
    const port = o.channel === false ? () => null : portFinder(o);
    // A tree a receiver kept (its state file is there) is the channel's, whether its port is there now or not
    // (unplugged, coming back): a receiver keeps it again, waiting for the port; a tree read as it is would
    // stand still.
    const channelTree = (): boolean => o.channel !== false && existsSync(join(o.powercapPath, CHANNEL_STATE_FILE));
    if (port() === null && !channelTree()) {
      const timeoutS = waitBoundS(o);
      await waitForTree(o.powercapPath, log, {
        wait: o.wait !== false,
        signal: interruptSignal(),
        ready: () => port() !== null,
        procRoot: o.procfsPath,
        ...(timeoutS !== undefined ? { timeoutS } : {}),
      });
    }
    if (port() === null && !channelTree()) return; // the host's share: read as it is
    const r = await startReceiver(o.powercapPath, o, log, interruptSignal());
    if (r instanceof ChannelReceiver) {
      receiver = r; // the channel: its receiver is the sensor
      return;
    }
    // One receiver per port and tree: this one reads the tree that the other keeps.
    if ("busy" in r)
      log.warn(`channel: ${port() ?? "the channel's port"} is read by another receiver (${r.busy}), which keeps ${o.powercapPath}: reading that tree instead`);
    else log.warn(`channel: cannot keep ${o.powercapPath} (${r.cannot}): reading the tree as it is instead (--no-channel says so)`);
  },
  sensor: async (cmd, log) => {
    const o = cmd.opts<GuestOptions>();
    if (receiver === null) return null; // no channel, or another receiver keeps the tree: read the tree
    if (!receiver.latest) {
      if (o.wait === false) throw new ScaphError(`the channel's port is there but no line came from the host yet: is scaph-host qemu running on the host?`);
      log.warn("channel: waiting for the host's first line (is scaph-host qemu running on the host?)");
      await firstLine(receiver, interruptSignal(), waitBoundS(o));
    }
    log.info(`channel: reading the host's lines from ${portFinder(o)() ?? "the channel's port, once it is there"}, keeping the tree at ${o.powercapPath}`);
    return new ChannelSensor(receiver, o.powercapPath);
  },
};

export function guestProgram(env: CliEnvironment = guestEnvironment): Command {
  const program = new Command("scaph-guest")
    .description(
      "Inside a VM: power of this VM and of its processes, read from the powercap tree the host shares " +
        `(SCAPHANDRE_POWERCAP_PATH, default ${GUEST_MOUNT_POINT}).`,
    )
    .version(SCAPH_VERSION);
  addGlobalOptions(program);
  addStdoutCommand(program, env);
  addJsonCommand(program, env);
  addPrometheusCommand(program, env);
  addPrometheusPushCommand(program, env);
  addRiemannCommand(program, env);
  addWarp10Command(program, env);
  addChannelOptions(
    program
      .command("channel")
      .description(`keep this VM's powercap tree from the host's lines on the virtio-serial port ${CHANNEL_NAME} (the channel transport)`)
      .option("--path <dir>", "where to keep the tree", guestPowercapPath())
      .option("--procfs-path <dir>", "procfs root, for the mount table", "/proc"),
  ).action(async (options: ChannelFlags & { path: string }, c: Command) => {
    const log = loggerFor(c);
    const signal = interruptSignal();
    const r = await startReceiver(options.path, options, log, signal, true);
    if ("busy" in r)
      throw new ScaphError(
        `another receiver keeps ${options.path} (${r.busy}): one receiver per tree and port; stop it first, or give this one another --path`,
      );
    if ("cannot" in r) throw new ScaphError(`cannot keep ${options.path}: ${r.cannot} (run it as root, or give it a --path it may write)`);
    writeStderr(`scaph-guest: keeping ${options.path} from the channel ${options.channelDevice ?? options.channelPort}`);
    await r.run(); // returns once stopped (SIGTERM, SIGINT)
  });
  program
    .command("mount")
    .description("mount the host's share (tag scaphandre) at the tree's path; idempotent; needs root")
    .addOption(new Option("--transport <name>", "how the host shares the tree").choices([...SHARE_TRANSPORTS]).default("virtiofs"))
    .option("--path <dir>", "where to mount it", guestPowercapPath())
    .option("--procfs-path <dir>", "procfs root, for the mount table", "/proc")
    .action(async (options: { transport: Transport; path: string; procfsPath: string }) => {
      await mountShare(options.transport, options.path, (l) => process.stdout.write(l + "\n"), options.procfsPath);
    });
  acceptGlobalOptionsAfterSubcommands(program);
  // Scaphandre's --vm (read the VM's tree): what scaph-guest always does
  acceptScaphandreFlags(program, [{ flags: "--vm", notice: "scaph-guest always reads this VM's tree or channel" }]);
  return program;
}
