/** scaph-guest channel, as root, never mounts its tmpfs over a directory that holds anything but its own tree. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireRoot } from "@scaph/test-support";
import { guestBin, runNode } from "../helpers/cli.js";
import { mkfifo } from "./rig.js";

test("scaph-guest channel refuses to mount its tmpfs over a directory that holds anything but its own tree", async () => {
  requireRoot("the receiver mounts a tmpfs as root only");
  const dir = await mkdtemp(join(tmpdir(), "scaph-chan-path-"));
  try {
    const fifo = join(dir, "port");
    mkfifo(fifo);
    const path = join(dir, "var");
    await mkdir(path);
    await writeFile(join(path, "important.db"), "the operator's data\n");
    const r = await runNode(guestBin, ["channel", "--path", path, "--channel-device", fifo]);
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes(path) && r.stderr.includes("important.db"), r.stderr);
    const mounted = execFileSync("sh", ["-c", `grep -c ' ${path} ' /proc/self/mounts || true`], { encoding: "utf8" }).trim();
    assert.equal(mounted, "0", "nothing was mounted there");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
