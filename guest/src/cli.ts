import { Command, Option } from "commander";
import {
  addGlobalOptions,
  addJsonCommand,
  addPrometheusCommand,
  addStdoutCommand,
  GUEST_MOUNT_POINT,
  interruptSignal,
  SCAPH_VERSION,
  TRANSPORTS,
} from "@scaph/common";
import type { CliEnvironment, Transport } from "@scaph/common";
import { mountShare } from "./mount.js";
import { waitForTree } from "./wait.js";

/** The tree's path: SCAPHANDRE_POWERCAP_PATH (as Scaphandre's --vm sensor reads it), else /var/scaphandre. */
export function guestPowercapPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.SCAPHANDRE_POWERCAP_PATH || GUEST_MOUNT_POINT;
}

export const guestEnvironment: CliEnvironment = {
  program: "scaph-guest",
  defaultPowercapPath: () => guestPowercapPath(),
  extendCommand: (cmd) => {
    cmd.option("--no-wait", "exit 1 at once if the tree is not there, instead of waiting for it");
  },
  beforeOpen: async (o, log) => {
    await waitForTree(o.powercapPath, log, { wait: o.wait !== false, signal: interruptSignal() });
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
  program
    .command("mount")
    .description("mount the host's share (tag scaphandre) at the tree's path; idempotent; needs root")
    .addOption(new Option("--transport <name>", "how the host shares the tree").choices([...TRANSPORTS]).default("virtiofs"))
    .option("--path <dir>", "where to mount it", guestPowercapPath())
    .option("--procfs-path <dir>", "procfs root, for the mount table", "/proc")
    .action(async (o: { transport: Transport; path: string; procfsPath: string }) => {
      await mountShare(o.transport, o.path, (l) => process.stdout.write(l + "\n"), o.procfsPath);
    });
  return program;
}
