/** test/prepare.mjs, which the system tier runs first, against the real dpkg database and apt-get. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../helpers/cli.js";
import { requireRoot } from "@scaph/test-support";

const prepare = join(repoRoot, "test/prepare.mjs");
const runPrepare = (args: string[], wrapper: string[] = []) => {
  const [cmd, ...pre] = [...wrapper, process.execPath];
  return spawnSync(cmd, [...pre, prepare, ...args], { encoding: "utf8", env: { ...process.env, npm_lifecycle_event: "test:system" } });
};

test("installed packages are left alone, and nothing is printed", () => {
  requireRoot("prepare checks the dpkg database as root");
  const r = runPrepare(["dpkg", "coreutils"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "");
});

test("a package apt-get cannot install fails naming the command", () => {
  requireRoot("prepare runs apt-get");
  const r = runPrepare(["dpkg", "scaph-no-such-package"]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /installing Debian packages the tests drive: scaph-no-such-package\n/);
  assert.match(r.stderr, /apt-get install --no-install-recommends scaph-no-such-package failed/);
});

test("not root: stops at once, naming the command to run", () => {
  requireRoot("the test drops to nobody with setpriv");
  const t0 = Date.now();
  const r = runPrepare(["scaph-no-such-package"], ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /the system tier runs as root/);
  assert.match(r.stderr, /Run: sudo npm run test:system/);
  assert.doesNotMatch(r.stdout, /installing/);
  assert.ok(Date.now() - t0 < 5000, "it stops at once");
});
