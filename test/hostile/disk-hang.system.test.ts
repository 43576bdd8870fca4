/**
 * Hostile inputs, round 3, items 2 and 3: a filesystem whose statfs hangs
 * (a real FUSE mount, fixtures/hang-fs.py, whose statfs waits until the
 * test lets it answer). The exporter never asks a FUSE filesystem (any user
 * can mount one); the disk reader, given a mount table that calls it ext4,
 * asks it through `stat -f`, leaves it after its deadline, and exits while
 * that stat is still stuck in the kernel.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { copyFixture, fixturesDir, removeTree, requireCommand, requireRoot } from "@scaph/test-support";
import { hostBin, repoRoot } from "../helpers/cli.js";
import { startBackground, waitFor } from "../helpers/processes.js";
import { scrape, startPrometheusOf } from "../helpers/scrape.js";
import { timedStop } from "./rig.js";

const PYTHON = "/usr/bin/python3";

/** Mounts fixtures/hang-fs.py at `dir`/mnt; resolves once the kernel shows it mounted. */
async function mountHangFs(dir: string): Promise<{ mnt: string; log: string; release: string; unmount(): Promise<void> }> {
  requireRoot("mounts a FUSE filesystem");
  requireCommand("fusermount", "fuse3");
  try {
    execFileSync(PYTHON, ["-c", "import fusepy"]);
  } catch {
    assert.fail("Debian's python3 cannot import fusepy: install the Debian package python3-fusepy");
  }
  const mnt = join(dir, "mnt");
  const log = join(dir, "fs.log");
  const release = join(dir, "release");
  await mkdir(mnt);
  const fs = startBackground(PYTHON, [join(fixturesDir(), "hang-fs.py"), mnt, log, release]);
  await waitFor("the FUSE filesystem to be mounted", async () =>
    (await readFile("/proc/self/mountinfo", "utf8")).split("\n").some((l) => l.includes(` ${mnt} `) && l.includes(" - fuse.hangfs ")) ? true : null,
  );
  return {
    mnt,
    log,
    release,
    async unmount() {
      await writeFile(release, "");
      try {
        execFileSync("umount", [mnt], { stdio: "ignore" }); // busy while a stat child is still stuck in it: then lazily
      } catch {
        execFileSync("umount", ["-l", mnt]);
      }
      await fs.stop();
    },
  };
}

const statfsCalls = async (log: string): Promise<{ enter: number; leave: number }> => {
  const words = existsSync(log) ? (await readFile(log, "utf8")).split("\n") : [];
  return { enter: words.filter((w) => w === "enter").length, leave: words.filter((w) => w === "leave").length };
};

test("a FUSE filesystem whose statfs hangs: never asked; scrapes, a 404 and SIGTERM are answered", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-disk-hang-"));
  const fs = await mountHangFs(dir);
  const powercap = await copyFixture("powercap/intel-1socket");
  const proc = await copyFixture("proc/basic");
  try {
    const { bg, url } = await startPrometheusOf(hostBin, ["--step", "0.2", "--powercap-path", powercap, "--procfs-path", proc]);
    try {
      const t0 = Date.now();
      let body = "";
      for (let i = 0; i < 3; i++) body = await scrape(url);
      const scrapeMs = (Date.now() - t0) / 3;
      assert.match(body, /scaph_host_power_microwatts/);
      assert.ok(!body.includes(fs.mnt), "the FUSE filesystem is not in the disk series");
      const nothing = await fetch(url.replace(/\/metrics$/, "/nothing"));
      assert.equal(nothing.status, 404);
      assert.deepEqual(await statfsCalls(fs.log), { enter: 0, leave: 0 }, "its statfs was never called");
      const { ms, code } = await timedStop(bg);
      console.log(`# with the FUSE mount: a scrape ${scrapeMs.toFixed(1)} ms, SIGTERM to exit ${ms} ms`);
      assert.equal(code, 0, bg.output());
    } finally {
      await bg.stop("SIGKILL");
    }
  } finally {
    await fs.unmount();
    await removeTree(powercap);
    await removeTree(proc);
    await rm(dir, { recursive: true, force: true });
  }
});

test("the disk reader asked a statfs that hangs: the filesystem is left out, the others sized, and the process exits while stat is stuck", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-disk-hang-"));
  const fs = await mountHangFs(dir);
  try {
    // a mount table that says the FUSE filesystem is ext4: the reader then asks it, as it
    // would a local filesystem that hangs (a dying disk)
    const procSelf = join(dir, "proc", "self");
    await mkdir(procSelf, { recursive: true });
    await writeFile(join(procSelf, "mountinfo"), [`1 1 250:1 / ${fs.mnt} rw - ext4 /dev/hung rw`, `2 1 250:2 / ${dir} rw - ext4 /dev/fine rw`, ""].join("\n"));
    const script = join(dir, "read.mjs");
    await writeFile(
      script,
      `import { DiskReader } from ${JSON.stringify(pathToFileURL(join(repoRoot, "common/dist/src/procfs/disk-reader.js")).href)};\n` +
        `const r = new DiskReader({ procRoot: ${JSON.stringify(join(dir, "proc"))}, sysRoot: "/sys", statTimeoutMs: 1000 });\n` +
        `await r.refresh();\n` +
        `console.log(JSON.stringify({ sized: r.current().map((d) => d.mountPoint), hung: r.hung() }));\n` +
        `process.exit(0);\n`,
    );
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    const calls = await statfsCalls(fs.log);
    assert.equal(code, 0, out);
    assert.deepEqual(JSON.parse(out), { sized: [dir], hung: [fs.mnt] });
    assert.ok(calls.enter >= 1 && calls.leave === 0, `the reader's process exited while statfs still hung (${JSON.stringify(calls)})`);
  } finally {
    await fs.unmount();
    await rm(dir, { recursive: true, force: true });
  }
});
