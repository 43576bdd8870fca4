import { CommanderError } from "commander";
import type { Command } from "commander";
import { ScaphError } from "../errors.js";

/**
 * Runs a CLI program: user errors (ScaphError) print their message and exit
 * with their code; anything else prints the stack and exits 2.
 */
export async function runCli(program: Command, argv: readonly string[] = process.argv): Promise<void> {
  program.exitOverride();
  // A closed pipe (`scaph-host stdout | head`) ends the run quietly.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof ScaphError) {
      process.stderr.write(`${program.name()}: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`${program.name()}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 2;
  }
}
