import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { requireRoot } from "@scaph/test-support";

const guestBin = fileURLToPath(new URL("../../bin/scaph-guest.js", import.meta.url));

/** scaph-guest json --no-wait on `tree` (no channel): its exit code and stderr. */
function noWait(tree: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [guestBin, "json", "--no-wait", "--no-channel", "--powercap-path", tree, "-t", "1"], (err, _out, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stderr });
    });
  });
}

test("no tree: absent or an empty directory is a share not mounted yet, with the mount commands", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-wait-"));
  try {
    const absent = await noWait(join(dir, "scaphandre"));
    assert.equal(absent.code, 1);
    assert.match(absent.stderr, /is absent: the host's share is not mounted yet/);
    assert.match(absent.stderr, /mount -t virtiofs scaphandre/);
    await mkdir(join(dir, "empty"));
    const empty = await noWait(join(dir, "empty"));
    assert.match(empty.stderr, /is empty: the host's share is not mounted yet/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a share mounted but empty: the host's daemon is named, not a mount to make", async () => {
  requireRoot("it mounts a tmpfs where the share would be");
  const dir = await mkdtemp(join(tmpdir(), "scaph-wait-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "scaph-test", dir]);
  try {
    const r = await noWait(dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`is empty, though ${dir} is mounted \\(tmpfs\\)`));
    assert.match(r.stderr, /is scaph-host qemu running\?/);
    assert.doesNotMatch(r.stderr, /not mounted yet/);
  } finally {
    execFileSync("umount", [dir]);
    await rm(dir, { recursive: true, force: true });
  }
});
