import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fixturesDir } from "./fixtures.js";

/**
 * Compares text with fixtures/golden/<name>. With UPDATE_GOLDEN=1 the file is
 * (re)written instead; review the diff before committing it.
 */
export async function checkGolden(name: string, actual: string): Promise<void> {
  const file = join(fixturesDir(), "golden", name);
  if (process.env.UPDATE_GOLDEN === "1") {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = await readFile(file, "utf8");
  } catch {
    assert.fail(`golden file ${file} is missing: run UPDATE_GOLDEN=1 npm test and review it`);
  }
  assert.equal(actual, expected, `output differs from ${file} (UPDATE_GOLDEN=1 npm test rewrites it)`);
}
