/**
 * typescript-eslint's type-aware rules (eslint.config.js) over every
 * package's sources and tests: no finding; and every .ts file as Prettier
 * formats it (.prettierrc.json; `npm run format` rewrites them). `npm run
 * lint` runs both.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { repoRoot } from "../helpers/cli.js";

const requireHere = createRequire(import.meta.url);
/** A tool's script from its package, run by this Node in the repository. */
const runTool = (pkg: string, script: string, args: readonly string[]): Promise<{ code: number; out: string }> =>
  new Promise((resolve) =>
    execFile(
      process.execPath,
      [join(dirname(requireHere.resolve(`${pkg}/package.json`)), script), ...args],
      { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out: stdout + stderr }),
    ),
  );

test("eslint (typescript-eslint, type-aware): no finding in any package", async () => {
  const r = await runTool("eslint", "bin/eslint.js", ["--max-warnings", "0", "."]);
  assert.equal(r.code, 0, `npm run lint finds:\n${r.out}`);
});

test("prettier: every .ts file is formatted (npm run format)", async () => {
  const r = await runTool("prettier", "bin/prettier.cjs", ["--check", "**/*.ts"]);
  assert.equal(r.code, 0, `not formatted (npm run format):\n${r.out}`);
});
