#!/usr/bin/env node
// Prepares this machine for the system tier (npm run test:system), before
// any of its tests runs: they mount tmpfs, start libvirtd and drop
// privileges, so they run as root; and they drive real components, so the
// Debian packages in test/packages.json are installed with apt-get when
// missing (printing what is installed). Not root: stops at once, naming the
// command to run. The fast tier (npm test) needs none of this.
//
//   node test/prepare.mjs          every package of test/packages.json
//   node test/prepare.mjs PKG...   just these (the lab's CLI uses it)
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const list = JSON.parse(readFileSync(new URL("./packages.json", import.meta.url), "utf8"));
const TEST_PACKAGES = Object.keys(list.packages);

/** Whether dpkg says a package is installed. */
function isInstalled(pkg) {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("install ok installed");
}

function fail(msg) {
  process.stderr.write(`test: ${msg}\n`);
  process.exit(1);
}

const script = `npm run ${process.env.npm_lifecycle_event || "test:system"}`;
if (process.getuid?.() !== 0) {
  fail(
    `the system tier runs as root: its tests mount tmpfs filesystems, start libvirtd and install the Debian packages they drive.\n` +
      `  (npm test, the fast tier, needs no root.)\n` +
      `  Run: sudo ${script}`,
  );
}
if (spawnSync("dpkg-query", ["--version"]).status !== 0 || spawnSync("apt-get", ["--version"]).status !== 0) {
  fail(`this machine has no dpkg/apt-get: install the equivalents of these Debian packages by hand, then run again: ${TEST_PACKAGES.join(" ")}`);
}
/** Whether a command is on PATH (from whatever package). */
function onPath(cmd) {
  return spawnSync("sh", ["-c", `command -v "$1"`, "sh", cmd], { stdio: "ignore" }).status === 0;
}

const wanted = process.argv.length > 2 ? process.argv.slice(2) : TEST_PACKAGES;
const provided = (p) => typeof list.commands?.[p] === "string" && onPath(list.commands[p]);
const missing = wanted.filter((p) => !isInstalled(p) && !provided(p));
if (missing.length > 0) {
  process.stdout.write(`test: installing Debian packages the tests drive: ${missing.join(" ")}\n`);
  for (const p of missing) process.stdout.write(`  ${p}: ${list.packages[p] ?? "asked for on the command line"}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const apt = (args) => spawnSync("apt-get", args, { env, stdio: ["ignore", "inherit", "inherit"] }).status === 0;
  if (!apt(["update", "-qq"])) fail("apt-get update failed (see above)");
  if (!apt(["install", "-y", "-qq", "-o=Dpkg::Use-Pty=0", "--no-install-recommends", ...missing])) {
    fail(`apt-get install --no-install-recommends ${missing.join(" ")} failed (see above)`);
  }
  const still = missing.filter((p) => !isInstalled(p));
  if (still.length > 0) fail(`still not installed after apt-get: ${still.join(" ")}`);
  process.stdout.write(`test: installed ${missing.join(" ")}\n`);
}
