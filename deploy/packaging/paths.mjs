import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const repo = fileURLToPath(new URL("../..", import.meta.url));

/** scaph's version: the root package.json's. */
export const version = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
