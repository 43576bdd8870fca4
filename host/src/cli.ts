import { Command } from "commander";
import { addGlobalOptions, addJsonCommand, addPrometheusCommand, addStdoutCommand } from "@scaph/common";
import type { CliEnvironment } from "@scaph/common";
import { addQemuCommand } from "./commands/qemu.js";
import { addSetupCommands } from "./commands/setup.js";
import { qemuLabeler } from "./qemu/labeler.js";

export const hostEnvironment: CliEnvironment = {
  program: "scaph-host",
  defaultPowercapPath: () => "/sys/class/powercap",
  labeler: qemuLabeler,
};

export function hostProgram(env: CliEnvironment = hostEnvironment): Command {
  const program = new Command("scaph-host")
    .description("Measure power on a Linux host (RAPL) and attribute it to processes and virtual machines.")
    .version("0.1.0");
  addGlobalOptions(program);
  addStdoutCommand(program, env);
  addJsonCommand(program, env);
  addPrometheusCommand(program, env);
  addQemuCommand(program, env);
  addSetupCommands(program);
  return program;
}
