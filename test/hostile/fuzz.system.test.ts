/**
 * Fuzz: random file types, sizes and contents planted in powercap trees, for
 * the guest (which reads one) and the host daemon (which writes them while a
 * guest keeps planting). Neither may hang, exceed a memory bound, or write
 * outside its directory. SCAPH_FUZZ_SEED=N replays a run; each test prints
 * its seed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { link, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prng, requireRoot } from "@scaph/test-support";
import { guestBin } from "../helpers/cli.js";
import { sleep, startBackground } from "../helpers/processes.js";
import { fixtureDaemon, mkfifo, timedStop, watchPeakRss } from "./rig.js";

const RSS_BOUND = 150 * 1024 * 1024;

/** A directory outside the trees with a file in it: nothing may change there. */
async function canary(dir: string): Promise<{ dir: string; file: string; check(): Promise<void> }> {
  const c = join(dir, "canary");
  await mkdir(c);
  const file = join(c, "precious");
  await writeFile(file, "precious\n");
  return {
    dir: c,
    file,
    async check() {
      assert.deepEqual(await readdir(c), ["precious"], "nothing was written outside the trees");
      assert.equal(await readFile(file, "utf8"), "precious\n");
    },
  };
}

/** Plants something random at `path` (whatever was there is removed first). */
async function plant(rand: () => number, path: string, outside: { dir: string; file: string }): Promise<string> {
  await rm(path, { recursive: true, force: true });
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const kind = pick(["digits", "huge-digits", "garbage", "sparse", "empty", "fifo", "symlink", "dir", "device", "hardlink", "nul"] as const);
  switch (kind) {
    case "digits":
      await writeFile(path, `${Math.floor(rand() * 1e12)}\n`);
      break;
    case "huge-digits":
      await writeFile(path, "9".repeat(1 + Math.floor(rand() * 5000)));
      break;
    case "garbage":
      await writeFile(path, Buffer.from(Array.from({ length: Math.floor(rand() * 3000) }, () => Math.floor(rand() * 256))));
      break;
    case "sparse":
      await writeFile(path, "");
      await truncate(path, Math.floor(rand() * 300 * 1024 * 1024));
      break;
    case "empty":
      await writeFile(path, "");
      break;
    case "fifo":
      mkfifo(path);
      break;
    case "symlink":
      await symlink(pick([outside.file, outside.dir, "/dev/zero", "/etc/passwd", "/nonexistent", path, "/proc/self/mem"]), path);
      break;
    case "dir":
      await mkdir(join(path, "nested"), { recursive: true });
      await writeFile(join(path, "nested", "energy_uj"), "1\n");
      break;
    case "device":
      execFileSync("mknod", [path, "c", "1", pick(["3", "5", "8"])], { stdio: "pipe" }); // null, zero, random
      break;
    case "hardlink":
      await link(outside.file, path);
      break;
    case "nul":
      await writeFile(path, "12\0\0\0" + "34");
      break;
  }
  return kind;
}

const seedOf = (name: string): number => Number(process.env.SCAPH_FUZZ_SEED ?? "") || (Date.now() ^ name.length) >>> 0;

test("fuzz the guest: random trees never hang it, grow it, or make it write", async (t) => {
  requireRoot("it makes device nodes");
  const seed = seedOf("guest");
  t.diagnostic(`seed ${seed} (SCAPH_FUZZ_SEED=${seed} replays it)`);
  const rand = prng(seed);
  const dir = await mkdtemp(join(tmpdir(), "scaph-fuzz-guest-"));
  const outside = await canary(dir);
  try {
    for (let round = 0; round < 12; round++) {
      const tree = join(dir, `tree-${round}`);
      const zones = ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", `intel-rapl:${Math.floor(rand() * 3)}`];
      const planted: string[] = [];
      for (const z of new Set(zones)) {
        await mkdir(join(tree, z), { recursive: true });
        for (const [f, v] of [
          ["name", z === "intel-rapl:0" ? "package-0" : "dram"],
          ["energy_uj", "1000"],
          ["max_energy_range_uj", "262143328850"],
        ] as const) {
          const p = join(tree, z, f);
          if (rand() < 0.4) planted.push(`${z}/${f}=${await plant(rand, p, outside)}`);
          else {
            await rm(p, { recursive: true, force: true }); // never write through what an earlier round planted
            await writeFile(p, `${v}\n`);
          }
        }
      }
      if (rand() < 0.2) planted.push(`intel-rapl:0:1=${await plant(rand, join(tree, "intel-rapl:0:1"), outside)}`);
      const bg = startBackground(process.execPath, [guestBin, "json", "-t", "1", "-s", "0.25", "--no-wait", "--powercap-path", tree]);
      const rss = watchPeakRss(bg.child.pid as number);
      const killer = setTimeout(() => bg.child.kill("SIGKILL"), 10_000);
      const code = await new Promise<number | null>((r) => bg.child.on("exit", (c) => r(c)));
      clearTimeout(killer);
      const peak = await rss.stop();
      const what = `round ${round} (seed ${seed}): ${planted.join(", ") || "nothing planted"}\n${bg.output().slice(0, 2000)}`;
      assert.ok(code === 0 || code === 1, `ended with ${code}: ${what}`);
      assert.ok(peak < RSS_BOUND, `peak RSS ${(peak / 1e6).toFixed(0)} MB: ${what}`);
      assert.doesNotMatch(bg.output(), /internal error/, what);
      await outside.check();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("fuzz the daemon: a guest planting at random in its share never hangs it, grows it, or redirects a write", async (t) => {
  requireRoot("it makes device nodes");
  const seed = seedOf("daemon-host");
  t.diagnostic(`seed ${seed} (SCAPH_FUZZ_SEED=${seed} replays it)`);
  const rand = prng(seed);
  const d = await fixtureDaemon();
  const outside = await canary(d.dir);
  const bg = d.start();
  const rss = watchPeakRss(bg.child.pid as number);
  const planted: string[] = [];
  try {
    await d.steps(1);
    const targets = ["web-1", "rhel-vm"].flatMap((vm) =>
      ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:2"].flatMap((z) => [
        join(vm, z),
        ...["name", "energy_uj", "max_energy_range_uj", ".energy_uj.scaph-tmp", ".name.scaph-tmp"].map((f) => join(vm, z, f)),
      ]),
    );
    const end = Date.now() + 4000;
    while (Date.now() < end) {
      const rel = targets[Math.floor(rand() * targets.length)] as string;
      const parent = join(d.base, rel, "..");
      if (
        !(await lstat(parent)
          .then((s) => s.isDirectory())
          .catch(() => false))
      )
        continue;
      planted.push(`${rel}=${await plant(rand, join(d.base, rel), outside).catch((e: Error) => `(${e.message})`)}`);
      await sleep(Math.floor(rand() * 40));
    }
    // The guest stops; within two steps every tree is whole again.
    await d.steps(2);
    for (const vm of ["web-1", "rhel-vm", "plainvm"]) {
      for (const z of ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:2"]) {
        for (const f of ["name", "energy_uj", "max_energy_range_uj"]) {
          const p = join(d.base, vm, z, f);
          assert.ok((await lstat(p)).isFile(), `${p} (seed ${seed})`);
          assert.match(await readFile(p, "utf8"), /^[\w-]+\n$/, p);
        }
      }
    }
    assert.equal(bg.child.exitCode, null, bg.output());
  } finally {
    const { ms, code } = await timedStop(bg);
    const peak = await rss.stop();
    t.diagnostic(`${planted.length} plants; peak RSS ${(peak / 1e6).toFixed(0)} MB; stopped in ${ms} ms`);
    assert.equal(code, 0, bg.output().slice(-3000));
    assert.ok(peak < RSS_BOUND, `peak RSS ${(peak / 1e6).toFixed(0)} MB`);
    await outside.check();
    await d.cleanup();
  }
});
