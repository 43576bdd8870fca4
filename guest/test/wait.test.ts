import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { noWait } from "./no-wait.js";

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
