import assert from "node:assert/strict";

/**
 * Fails (never skips) when the test does not run as root, saying why it needs
 * root: the README's test commands run as root, and a test that needs it must
 * not pass or vanish silently elsewhere.
 */
export function requireRoot(why: string): void {
  assert.equal(process.getuid?.(), 0, `this test needs root (${why}): run the tests as root, e.g. sudo npm test`);
}
