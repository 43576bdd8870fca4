import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireRoot } from "@scaph/test-support";
import { noWait } from "./no-wait.js";

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
