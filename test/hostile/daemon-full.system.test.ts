/** The host daemon's base dir full (a 1 MiB tmpfs, mounted as root: five VM trees and the state files take about 270 KiB): its status and state files fail, once in the log, and recover. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { requireRoot } from "@scaph/test-support";
import { freePort, waitFor } from "../helpers/processes.js";
import { sample, scrape } from "../helpers/scrape.js";
import { fixtureDaemon, timedStop } from "./rig.js";

test("a full base dir: the status and state files' failure is logged once, and so is their recovery", async () => {
  requireRoot("it mounts a small tmpfs as the base dir");
  const d = await fixtureDaemon();
  await mkdir(d.base, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "scaph-hostile", d.base]);
  // its steps counted from what it serves (its status file cannot be written while the tmpfs is full)
  const port = await freePort();
  const bg = d.start(["--prometheus", "--address", "127.0.0.1", "--port", String(port)]);
  const lastStep = async (): Promise<number> =>
    sample(await scrape(`http://127.0.0.1:${port}/metrics`).catch(() => ""), "scaph_self_last_step_timestamp_seconds") ?? 0;
  try {
    await d.steps(1);
    try {
      execFileSync("dd", ["if=/dev/zero", `of=${join(d.base, "filler")}`, "bs=4k"], { stdio: "ignore" });
    } catch {
      // ENOSPC: the point
    }
    await waitFor("the failures to be logged", () =>
      /cannot write .*\.scaph-status\.json/.test(bg.output()) && /cannot write .*\.scaph-state\.json/.test(bg.output()) ? true : null,
    );
    // five more steps of 0.2 s with the tmpfs still full
    const t0 = await lastStep();
    await waitFor("five more steps", async () => ((await lastStep()) >= t0 + 5 * 0.2 ? true : null));
    assert.equal(bg.output().match(/cannot write .*\.scaph-status\.json/g)?.length, 1, "once, not every step");
    await rm(join(d.base, "filler"));
    await waitFor("the recovery to be logged", () =>
      /\.scaph-status\.json written again/.test(bg.output()) && /\.scaph-state\.json written again/.test(bg.output()) ? true : null,
    );
    const t = await d.statusTime();
    assert.ok(Date.now() / 1000 - t < 2, "the status file is fresh again");
  } finally {
    await timedStop(bg);
    execFileSync("umount", [d.base]);
    await d.cleanup();
  }
});
