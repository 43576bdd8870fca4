/** The lab's package check against the real dpkg database and apt-get. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ensurePackages } from "../lab/packages.js";

test("installed packages are left alone", () => {
  assert.deepEqual(ensurePackages(["dpkg", "coreutils"]), []);
});

test("a package apt-get cannot install fails naming the command", { skip: process.getuid?.() !== 0 ? "needs root: apt-get install" : false }, () => {
  assert.throws(() => ensurePackages(["dpkg", "scaph-no-such-package"]), /apt-get install --no-install-recommends scaph-no-such-package failed: .*scaph-no-such-package/s);
});
