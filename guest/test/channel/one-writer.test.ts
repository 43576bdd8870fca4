/**
 * One writer per tree: a second receiver cannot start on a tree (and so a
 * port) that another keeps; an exporter that finds it kept reads the tree
 * instead; a port that answers EBUSY when it is opened again costs a line of
 * log and no counter; and no receiver writes a counter below the last one
 * written (the two-receiver runs of the migration lab: a counter that went
 * from 1,914,160,604 to 867,157,028 µJ).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { constants, openSync, writeSync } from "node:fs";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger, encodeMessage } from "@scaph/common";
import type { ChannelMessage } from "@scaph/common";
import { isHeld, lockTree } from "../../src/channel/lock.js";
import { ChannelReceiver } from "../../src/channel/receiver.js";

const guestBin = fileURLToPath(new URL("../../../bin/scaph-guest.js", import.meta.url));
const MAX = 262143328850;
const line = (epoch: string, seq: number, uj: number): string =>
  encodeMessage({
    v: 1,
    epoch,
    seq,
    t: 1_795_900_000 + seq,
    t0: 1_795_900_000,
    step_s: 1,
    zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: uj, max_energy_range_uj: MAX }],
  } satisfies ChannelMessage);

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "scaph-one-writer-"));
  try {
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
const energy = async (tree: string): Promise<number> => Number((await readFile(join(tree, "intel-rapl:0", "energy_uj"), "utf8")).trim());

test("two receivers started together on one tree: one takes its lock, the other is told who holds it", () =>
  withDir(async (dir) => {
    const results = await Promise.all([lockTree(dir), lockTree(dir), lockTree(dir)]);
    const held = results.filter(isHeld);
    const busy = results.filter((r): r is { busy: string } => "busy" in r);
    assert.equal(held.length, 1, JSON.stringify(busy));
    for (const b of busy) assert.equal(b.busy, `pid ${process.pid}`);
    assert.ok(held[0]?.stillHeld());
    held[0]?.release();
    const again = await lockTree(dir);
    assert.ok(isHeld(again), "released: the next takes it");
    again.release();
  }));

test("a receiver killed with SIGKILL leaves a lock nobody answers: the next receiver takes it over", () =>
  withDir(async (dir) => {
    const lockModule = fileURLToPath(new URL("../../src/channel/lock.js", import.meta.url));
    const child = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { lockTree } = await import(${JSON.stringify(lockModule)}); const l = await lockTree(${JSON.stringify(dir)}); console.log("busy" in l ? "busy" : "held"); setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const said = await new Promise<string>((r) => child.stdout.once("data", (d: Buffer) => r(d.toString().trim())));
    assert.equal(said, "held");
    const busy = await lockTree(dir);
    assert.ok("busy" in busy && busy.busy === `pid ${child.pid}`, JSON.stringify(busy));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const taken = await lockTree(dir);
    assert.ok(isHeld(taken), `after the holder died: ${JSON.stringify(taken)}`);
    taken.release();
  }));

test("a lock taken over by another receiver: the first writes nothing more, and says why", () =>
  withDir(async (dir) => {
    const lines: string[] = [];
    const lock = await lockTree(dir);
    assert.ok(isHeld(lock));
    const r = new ChannelReceiver({ tree: dir, port: () => null, log: createLogger({ level: "info", write: (l) => lines.push(l) }), lock });
    r.receive(line("e", 1, 1_000_000));
    // another receiver, which found the lock stale, replaced it
    const { unlinkSync } = await import("node:fs");
    unlinkSync(join(dir, ".scaph-channel.lock"));
    const other = await lockTree(dir);
    assert.ok(isHeld(other));
    await writeFile(join(dir, "intel-rapl:0", "energy_uj"), "5000000\n"); // what the other wrote
    r.receive(line("e", 2, 2_000_000));
    assert.equal(await energy(dir), 5_000_000, "the first receiver wrote nothing over the other's tree");
    assert.ok(
      lines.some((l) => /ERROR channel: another receiver took .*'s lock: this one stops/.test(l)),
      lines.join("\n"),
    );
    other.release();
    lock.release();
  }));

test("a tree ahead of the state file (a state write lost): the next receiver continues from the tree, never below it", () =>
  withDir(async (dir) => {
    const a = new ChannelReceiver({ tree: dir, port: () => null, log: createLogger({ level: "error" }) });
    a.receive(line("e", 1, 1_000_000));
    const state = await readFile(join(dir, ".scaph-channel.json"), "utf8");
    a.receive(line("e", 2, 3_000_000));
    await writeFile(join(dir, ".scaph-channel.json"), state); // the state of seq 1, the tree of seq 2
    const lines: string[] = [];
    const b = new ChannelReceiver({ tree: dir, port: () => null, log: createLogger({ level: "info", write: (l) => lines.push(l) }) });
    assert.equal(b.latest?.zones[0]?.value, 3_000_000);
    assert.ok(
      lines.some((l) => /stands at 3000000 µJ, ahead of the state file's 1000000: continuing from the tree/.test(l)),
      lines.join("\n"),
    );
    b.receive(line("e", 3, 4_000_000));
    assert.ok((await energy(dir)) >= 3_000_000);
    // A tree behind the state (the last tree write failed) is not taken: the state is ahead.
    const c = new ChannelReceiver({ tree: dir, port: () => null, log: createLogger({ level: "error" }) });
    await writeFile(join(dir, "intel-rapl:0", "energy_uj"), "10\n");
    const d = new ChannelReceiver({ tree: dir, port: () => null, log: createLogger({ level: "error" }) });
    assert.equal(d.latest?.zones[0]?.value, c.latest?.zones[0]?.value);
  }));

test("a port that answers EBUSY when opened again: one WARN, nothing written meanwhile, and the counters go on from where they were", () =>
  withDir(async (dir) => {
    const fifo = join(dir, "port");
    execFileSync("mkfifo", [fifo]);
    const tree = join(dir, "tree");
    const lines: string[] = [];
    let opens = 0;
    let busyLeft = 5;
    const r = new ChannelReceiver({
      tree,
      port: () => fifo,
      log: createLogger({ level: "info", write: (l) => lines.push(l) }),
      retryMs: 20,
      pollMs: 10,
      openPort: (p) => {
        opens++;
        if (opens > 1 && busyLeft-- > 0) throw Object.assign(new Error(`EBUSY: resource busy or locked, open '${p}'`), { code: "EBUSY" });
        return openSync(p, constants.O_RDONLY | constants.O_NONBLOCK);
      },
    });
    const seen: number[] = [];
    r.onApplied(() => seen.push(r.latest?.zones[0]?.value ?? NaN));
    const run = r.run();
    try {
      // (opened for writing off this thread: the open waits for the receiver's, on this thread)
      const w1 = await open(fifo, "w");
      writeSync(w1.fd, line("e", 1, 1_000_000) + line("e", 2, 2_000_000));
      await waitFor(() => seen.length >= 1 && seen.at(-1) === 2_000_000);
      await w1.close();
      // the port ends and opens again (a migration, a restart of the host's daemon): EBUSY five times, then it opens
      const w2 = await open(fifo, "w");
      writeSync(w2.fd, line("e", 5, 5_000_000));
      await waitFor(() => seen.at(-1) === 5_000_000);
      await w2.close();
      assert.ok(opens >= 7, `${opens} opens`);
    } finally {
      r.stop();
      await run;
    }
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `the counter went from ${seen[i - 1]} to ${seen[i]}`);
    assert.equal(await energy(tree), 5_000_000);
    assert.equal(lines.filter((l) => /EBUSY/.test(l)).length, 1, lines.join("\n"));
    assert.ok(
      lines.some((l) => /open again/.test(l)),
      lines.join("\n"),
    );
  }));

/** Waits (polling the state the test owns) until `f` holds. */
async function waitFor(f: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("scaph-guest channel twice on one port and tree: the second exits 1 naming the first; an exporter beside them reads the tree, saying so once", () =>
  withDir(async (dir) => {
    const fifo = join(dir, "port");
    execFileSync("mkfifo", [fifo]);
    const tree = join(dir, "tree");
    const first = spawn(process.execPath, [guestBin, "channel", "--path", tree, "--channel-device", fifo, "--no-tmpfs"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let firstErr = "";
    first.stderr.on("data", (d: Buffer) => (firstErr += d.toString()));
    try {
      await waitFor(() => /keeping .* from the channel/.test(firstErr));
      const fh = await open(fifo, "w"); // (kept: a FileHandle that is collected closes its descriptor, which another open then reuses)
      const w = fh.fd;
      writeSync(w, line("e", 1, 7_000_000));
      const written = async (): Promise<boolean> => (await energy(tree).catch(() => 0)) === 7_000_000;
      for (let i = 0; !(await written()); i++) {
        if (i > 1000) assert.fail(`the first receiver never wrote its tree: ${firstErr}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      const second = spawn(process.execPath, [guestBin, "channel", "--path", tree, "--channel-device", fifo, "--no-tmpfs"], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let secondErr = "";
      second.stderr.on("data", (d: Buffer) => (secondErr += d.toString()));
      const code = await new Promise<number | null>((r) => second.once("exit", r));
      assert.equal(code, 1, secondErr);
      assert.match(secondErr, new RegExp(`another receiver keeps ${tree} \\(pid ${first.pid}\\)`));
      // an exporter that would start a receiver of its own reads the first one's tree instead
      const json = spawn(process.execPath, [guestBin, "json", "--channel-device", fifo, "--powercap-path", tree, "-t", "2", "-s", "0.5"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      json.stdout.on("data", (d: Buffer) => (out += d.toString()));
      json.stderr.on("data", (d: Buffer) => (err += d.toString()));
      writeSync(w, line("e", 2, 9_000_000));
      assert.equal(await new Promise((r) => json.once("exit", r)), 0, err);
      assert.equal((err.match(/is read by another receiver \(pid \d+\), which keeps .*: reading that tree instead/g) ?? []).length, 1, err);
      assert.ok(Array.isArray(JSON.parse(out)), out);
      assert.doesNotMatch(await readFile("/proc/self/mountinfo", "utf8"), new RegExp(` ${tree} `), "nothing mounted over the first receiver's tree");
      await fh.close();
    } finally {
      first.kill("SIGTERM");
      await new Promise((r) => first.once("exit", r));
    }
  }));
