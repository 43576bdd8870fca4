import type { Command } from "commander";
import { ScaphError } from "../errors.js";
import { writeStderr } from "../log.js";

let stdoutIsProduct = false;

/** Says that the running command writes its reports to stdout, so a closed stdout ends it. */
export function stdoutCarriesReports(): void {
  stdoutIsProduct = true;
}

/**
 * Runs a CLI program: user errors (ScaphError) print their message and exit
 * with their code; anything else prints the stack and exits 2.
 */
export async function runCli(program: Command, argv: readonly string[] = process.argv): Promise<void> {
  program.exitOverride();
  // A reader of stderr that went away never ends the program (see writeStderr).
  process.stderr.on("error", () => {});
  // A closed stdout ends a command whose product is stdout (`scaph-host stdout | head`) quietly;
  // it never ends a daemon, whose product is elsewhere (trees, metrics).
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (stdoutIsProduct && (err.code === "EPIPE" || err.code === "EBADF")) process.exit(0);
  });
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    // commander's own errors (help, version, bad flags: already printed), by their code rather than their class,
    // so that a second copy of commander in an install still ends cleanly.
    if (isCommanderError(err)) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof ScaphError) {
      writeStderr(`${program.name()}: ${err.message}`);
      process.exitCode = err.exitCode;
      return;
    }
    writeStderr(`${program.name()}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 2;
  }
}

function isCommanderError(err: unknown): err is { exitCode: number; code: string } {
  return (
    typeof err === "object" &&
    err !== null &&
    typeof (err as { code?: unknown }).code === "string" &&
    (err as { code: string }).code.startsWith("commander.") &&
    typeof (err as { exitCode?: unknown }).exitCode === "number"
  );
}
