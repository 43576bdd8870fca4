// The guest as a single executable (Node's single executable application): this Node's binary with the
// guest bundle injected (postject), so that a guest with no Node at all runs it.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

/** The fuse Node's binary carries, flipped by the injection (Node's documentation, "Single executable applications"). */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

/** Builds `outFile` from the CommonJS `bundle`, in `workDir`; returns outFile. */
export async function buildSea(bundle, outFile, workDir) {
  // The script runs as the application's main: no shebang line there
  const main = join(workDir, "sea-main.cjs");
  writeFileSync(main, readFileSync(bundle, "utf8").replace(/^#!.*\n/, ""));
  const blob = join(workDir, "sea-prep.blob");
  const config = join(workDir, "sea-config.json");
  writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true }, null, 2));
  execFileSync(process.execPath, ["--experimental-sea-config", config], { stdio: "pipe" });
  copyFileSync(process.execPath, outFile);
  chmodSync(outFile, 0o755);
  // postject's command line, in a child whose output is shown only on failure (its ELF library warns of
  // every note section it does not know)
  const cli = createRequire(import.meta.url).resolve("postject/dist/cli.js");
  try {
    execFileSync(process.execPath, [cli, outFile, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE], { stdio: "pipe" });
  } catch (err) {
    throw new Error(`postject failed: ${err.stderr?.toString() ?? ""}${err.stdout?.toString() ?? ""}${err.message}`);
  }
  return outFile;
}
