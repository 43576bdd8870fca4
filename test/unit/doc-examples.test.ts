/**
 * docs/cli.md's output examples are the golden files, as the code makes them:
 * each block after a `<!-- golden: PATH -->` marker is fixtures/golden/PATH
 * (text byte for byte, after a first "Measurement step is" line the golden
 * leaves out; JSON as the same value, whatever its layout). A change of an
 * output changes its golden file (UPDATE_GOLDEN=1) and then fails here
 * until docs/cli.md shows it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fixturesDir } from "@scaph/test-support";
import { repoRoot } from "../helpers/cli.js";

test("every docs/cli.md example marked golden is its golden file", () => {
  const readme = readFileSync(join(repoRoot, "docs/cli.md"), "utf8");
  const marked = [...readme.matchAll(/<!-- golden: (\S+)[^>]*-->\n```\w*\n([\s\S]*?)```\n/g)];
  assert.deepEqual(marked.map((m) => m[1]).sort(), ["json/intel-2socket-psys.json", "stdout/intel-2socket-psys.txt"]);
  for (const [, path, block] of marked) {
    const golden = readFileSync(join(fixturesDir(), "golden", path!), "utf8");
    if (path!.endsWith(".json")) assert.deepEqual(JSON.parse(block!), JSON.parse(golden), `docs/cli.md's ${path}`);
    else assert.equal(block!.replace(/^Measurement step is: \S+\n/, ""), golden, `docs/cli.md's ${path}`);
  }
});
