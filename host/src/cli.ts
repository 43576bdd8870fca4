import { Command } from "commander";
import { addGlobalOptions, addJsonCommand, addStdoutCommand } from "@scaph/common";
import type { CliEnvironment } from "@scaph/common";

export const hostEnvironment: CliEnvironment = {
  program: "scaph-host",
  defaultPowercapPath: () => "/sys/class/powercap",
};

export function hostProgram(env: CliEnvironment = hostEnvironment): Command {
  const program = new Command("scaph-host")
    .description("Measure power on a Linux host (RAPL) and attribute it to processes and virtual machines.")
    .version("0.1.0");
  addGlobalOptions(program);
  addStdoutCommand(program, env);
  addJsonCommand(program, env);
  return program;
}
