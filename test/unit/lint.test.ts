/**
 * typescript-eslint's type-aware rules (eslint.config.js) over every
 * package's sources and tests: no finding. `npm run lint` says the same.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { repoRoot } from "../helpers/cli.js";

test("eslint (typescript-eslint, type-aware): no finding in any package", async () => {
  const eslint = join(dirname(createRequire(import.meta.url).resolve("eslint/package.json")), "bin", "eslint.js");
  const r = await new Promise<{ code: number; out: string }>((resolve) =>
    execFile(process.execPath, [eslint, "--max-warnings", "0", "."], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out: stdout + stderr }),
    ),
  );
  assert.equal(r.code, 0, `npm run lint finds:\n${r.out}`);
});
