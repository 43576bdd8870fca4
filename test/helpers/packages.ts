import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./cli.js";

/** scaph's version (the root package.json's): what the packages are named after and --version says. */
export const scaphVersion = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;

export type PackagePart = "host-deb" | "guest-deb" | "guest-bundle" | "guest-sea";

/** Builds parts of `npm run package` into `outDir` (deploy/packaging/package.mjs --only), as an operator's build would. */
export function buildPackages(parts: readonly PackagePart[], outDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(repoRoot, "deploy/packaging/package.mjs"), "--out", outDir, "--only", parts.join(",")],
      { maxBuffer: 16 * 1024 * 1024, timeout: 240_000 },
      (err, _stdout, stderr) => (err ? reject(new Error(`npm run package (--only ${parts.join(",")}) failed: ${stderr || err.message}`)) : resolve()),
    );
  });
}
