import { runCli } from "@scaph/common";
import { hostProgram } from "./cli.js";

await runCli(hostProgram());
