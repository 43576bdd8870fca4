/**
 * The test runner's tiers, on the files of fixtures/runner: a file placed
 * in the fast tier that needs root fails the fast tier, and the runner names
 * it; a system-tier file is counted but not run there.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fixturesDir } from "@scaph/test-support";
import { repoRoot } from "../helpers/cli.js";

function runner(tier: string): { status: number | null; stdout: string; stderr: string } {
  // The runner inside a test: node:test refuses to run files when it sees its own context variable.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.TEST_FILTER;
  const dir = join(fixturesDir(), "runner");
  const r = spawnSync(process.execPath, [join(repoRoot, "test/run-tests.mjs"), "--tier", tier, "--dir", dir], { encoding: "utf8", env, timeout: 100_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("a fast-tier file that needs root fails the fast tier, named with its reason; the system-tier file is counted, not run", () => {
  const r = runner("fast");
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /# tiers: fast 3 files \(\*\.test\.ts\), system 1 file \(\*\.system\.test\.ts\); running the fast tier: 3 files/);
  const failed = r.stderr.split("\n").filter((l) => l.startsWith("run-tests: fast tier: FAILED "));
  assert.equal(failed.length, 2, r.stderr);
  assert.match(failed.find((l) => l.includes("/mounts.test.js")) ?? "", /mounts a tmpfs: mount: /);
  assert.match(
    failed.find((l) => l.includes("/asks-root.test.js")) ?? "",
    /needs root \(it makes a device node\).*belongs in the system tier \(name its file \*\.system\.test\.ts\)/,
  );
  assert.doesNotMatch(r.stderr, /passes\.test\.js|real\.system\.test\.js/);
  assert.match(r.stdout, /ℹ pass 1\n/);
  assert.match(r.stdout, /ℹ fail 2\n/);
});

test("unknown tiers and lab options outside the system tier are refused, naming the usage", () => {
  const bad = spawnSync(process.execPath, [join(repoRoot, "test/run-tests.mjs"), "--tier", "slow"], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown tier slow \(known: fast, system\)/);
  const lab = spawnSync(process.execPath, [join(repoRoot, "test/run-tests.mjs"), "--lab-only"], { encoding: "utf8" });
  assert.equal(lab.status, 2);
  assert.match(lab.stderr, /add --tier system/);
});
