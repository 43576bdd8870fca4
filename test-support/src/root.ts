import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";

/**
 * The tier the runner runs (test/run-tests.mjs sets SCAPH_TEST_TIER): the
 * fast tier needs no root and no system package; the system tier may.
 */
export const testTier = (): "fast" | "system" | undefined => {
  const t = process.env.SCAPH_TEST_TIER;
  return t === "fast" || t === "system" ? t : undefined;
};

/** What a fast-tier file that needs more is told: its file belongs in the system tier. */
const inFastTier = (need: string): string =>
  `this test needs ${need}, but its file is in the fast tier (npm test), which runs unprivileged and uses no system package: ` +
  `it belongs in the system tier (name its file *.system.test.ts)`;

/**
 * Fails (never skips) when the test does not run as root, saying why it needs
 * root: a test that needs it must not pass or vanish silently elsewhere. In
 * the fast tier it always fails, naming the tier the file belongs to.
 */
export function requireRoot(why: string): void {
  if (testTier() === "fast") assert.fail(inFastTier(`root (${why})`));
  assert.equal(process.getuid?.(), 0, `this test needs root (${why}): run the system tier as root, e.g. sudo npm run test:system`);
}

/**
 * The path of a command that a system package provides; fails naming the
 * Debian package when it is missing. In the fast tier it always fails (even
 * where the command is installed): a fast-tier test uses no system package.
 */
export function requireCommand(cmd: string, debianPackage: string): string {
  if (testTier() === "fast") assert.fail(inFastTier(`${cmd} (Debian package ${debianPackage})`));
  try {
    return execFileSync("sh", ["-c", 'command -v "$1"', "sh", cmd], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(`${cmd} not found: install the Debian package ${debianPackage} (apt-get install --no-install-recommends ${debianPackage})`);
  }
}
