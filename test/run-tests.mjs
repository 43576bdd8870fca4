#!/usr/bin/env node
// Runs every compiled *.test.js with Node's test runner (Node 20's --test
// takes no glob), in one run, so there is one summary. The real-VM lab
// (test/dist/lab) is left out unless --lab (everything) or --lab-only is
// given. Other arguments go to `node --test` before the files; a filter is
// given with TEST_FILTER=substring.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dirs = ["common/dist/test", "libvirt/dist/test", "host/dist/test", "guest/dist/test", "test/dist"];
const args = process.argv.slice(2);
const lab = args.includes("--lab") ? "with" : args.includes("--lab-only") ? "only" : "without";
const nodeArgs = args.filter((a) => a !== "--lab" && a !== "--lab-only");
const files = [];
function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith(".test.js")) files.push(relative(root, p));
  }
}
for (const d of dirs) if (existsSync(join(root, d))) walk(join(root, d));
const filter = process.env.TEST_FILTER;
const isLab = (f) => f.startsWith("test/dist/lab/");
const chosen = files
  .sort()
  .filter((f) => (lab === "with" ? true : lab === "only" ? isLab(f) : !isLab(f)))
  .filter((f) => !filter || f.includes(filter));
if (chosen.length === 0) {
  console.error("run-tests: no test files found (did tsc -b run?)");
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=1", ...nodeArgs, ...chosen], {
  cwd: root,
  stdio: "inherit",
});
process.exit(r.status ?? 1);
