import { readFileSync } from "node:fs";

/** The version in the package.json next to this file's package (dist/src/version.js -> ../../package.json). */
function readVersion(): string {
  const bundled = process.env.SCAPH_BUNDLED_VERSION; // set by a single-file bundle, which has no package.json beside it
  if (bundled) return bundled;
  try {
    const v = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown }).version;
    return typeof v === "string" ? v : "unknown";
  } catch {
    return "unknown";
  }
}

/** scaph's version, from package.json: one source for --version and scaph_self_version. */
export const SCAPH_VERSION: string = readVersion();
