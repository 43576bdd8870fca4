import {
  acceptGlobalOptionsAfterSubcommands,
  acceptScaphandreFlags,
  addGlobalOptions,
  addJsonCommand,
  addPrometheusCommand,
  addPrometheusPushCommand,
  addRiemannCommand,
  addStdoutCommand,
  addWarp10Command,
  clockTicksPerSecond,
  Command,
  Option,
  SCAPH_VERSION,
  ScaphError,
} from "@scaph/common";
import type { CliEnvironment, RootOptions } from "@scaph/common";
import { addQemuCommand, addResolverOptions, vmResolver } from "./commands/qemu.js";
import type { ResolverFlags } from "./commands/qemu.js";
import { addSetupCommands } from "./commands/setup.js";
import { hostPowercapPath } from "./nested.js";

export const hostEnvironment: CliEnvironment = {
  program: "scaph-host",
  // the host's RAPL, or in a VM that is a hypervisor too, the tree its own host gives it (nested VMs)
  defaultPowercapPath: () => hostPowercapPath(),
  qemu: {
    addOptions: (cmd) => void addResolverOptions(cmd),
    // --qemu on the exporters: VMs named from their command lines (no libvirt connection), their CPU from their cgroups.
    source: async (cmd, log) => vmResolver(cmd.opts<RootOptions & ResolverFlags>(), clockTicksPerSecond(), log, null),
  },
};

const VM_HINT =
  "--vm: scaph-host runs on the host. Inside a VM (Scaphandre's --vm), run scaph-guest instead: it reads the tree at " +
  "SCAPHANDRE_POWERCAP_PATH (default /var/scaphandre), e.g. scaph-guest prometheus";

/**
 * Scaphandre's `--vm` mode is a command of its own here: `--vm`, before or
 * after the subcommand, is a hidden option whose parsing ends the program
 * with the hint, before anything runs.
 */
function refuseVmFlag(program: Command): void {
  for (const cmd of [program, ...program.commands]) {
    cmd.addOption(new Option("--vm").hideHelp());
    cmd.on("option:vm", () => {
      throw new ScaphError(VM_HINT);
    });
  }
}

export function hostProgram(env: CliEnvironment = hostEnvironment): Command {
  const program = new Command("scaph-host")
    .description("Measure power on a Linux host (RAPL) and attribute it to processes and virtual machines.")
    .version(SCAPH_VERSION);
  addGlobalOptions(program);
  addStdoutCommand(program, env);
  addJsonCommand(program, env);
  addPrometheusCommand(program, env);
  addPrometheusPushCommand(program, env);
  addRiemannCommand(program, env);
  addWarp10Command(program, env);
  addQemuCommand(program, env);
  addSetupCommands(program);
  acceptGlobalOptionsAfterSubcommands(program);
  acceptScaphandreFlags(program);
  refuseVmFlag(program);
  return program;
}
