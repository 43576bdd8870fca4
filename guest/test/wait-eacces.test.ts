/**
 * Waiting for the tree beside a directory this user may not read (Debian 12
 * has 0700 directories under /var, where the packaged unit's tree is): the
 * wait goes on, saying so once, and never crashes (hostile round 3, item
 * 15: scaph-guest prometheus died of chokidar's EACCES after 0.2 s).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const guestBin = fileURLToPath(new URL("../../bin/scaph-guest.js", import.meta.url));

test("the tree absent, a directory it may not read beside it: it waits its -t, names what is missing, no crash", async () => {
  assert.notEqual(process.getuid?.(), 0, "run as a user (npm test does): root reads every directory");
  const dir = await mkdtemp(join(tmpdir(), "scaph-wait-eacces-"));
  try {
    const locked = join(dir, "cache", "locked");
    await mkdir(locked, { recursive: true });
    await chmod(locked, 0o000);
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [guestBin, "json", "-t", "2", "--no-channel", "--powercap-path", join(dir, "scaphandre")], (err, _out, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stderr }),
      );
    });
    assert.doesNotMatch(r.stderr, /EACCES: permission denied, watch|\n\s+at /, r.stderr);
    assert.match(r.stderr, /Gave up waiting after 2 s/);
    assert.equal(r.code, 1, r.stderr);
  } finally {
    await chmod(join(dir, "cache", "locked"), 0o700).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
});
