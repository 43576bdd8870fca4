import { runCli } from "@scaph/common";
import { guestProgram } from "./cli.js";

await runCli(guestProgram());
