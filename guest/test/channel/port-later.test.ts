/**
 * An exporter that starts while the channel's port is away (unplugged, about
 * to be plugged back) on a tree a receiver kept: it keeps the tree again,
 * waiting for the port, rather than reading a tree that nobody moves (the
 * soak found an agent restarted during an unplug reading a dead tree).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger, encodeMessage } from "@scaph/common";
import { CHANNEL_NAME } from "@scaph/common";
import { ChannelReceiver } from "../../src/channel/receiver.js";

const guestBin = fileURLToPath(new URL("../../../bin/scaph-guest.js", import.meta.url));
const line = (seq: number, uj: number): string =>
  encodeMessage({
    v: 1,
    epoch: "e",
    seq,
    t: 1_795_900_000 + seq,
    t0: 1_795_900_000,
    step_s: 1,
    zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: uj, max_energy_range_uj: 262143328850 }],
  });

test("started with the port away and a tree a receiver kept: it waits for the port, then keeps the tree again", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-port-later-"));
  try {
    const tree = join(dir, "tree");
    // a receiver kept the tree before (its state file is there)
    new ChannelReceiver({ tree, port: () => null, log: createLogger({ level: "error" }) }).receive(line(1, 5_000_000));
    const sys = join(dir, "sys");
    const dev = join(dir, "dev");
    await mkdir(join(sys, "class", "virtio-ports"), { recursive: true });
    await mkdir(dev);
    const json = spawn(
      process.execPath,
      [guestBin, "-v", "json", "-t", "6", "-s", "0.5", "--powercap-path", tree, "--sysfs-path", sys, "--dev-path", dev, "--no-tmpfs"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    json.stdout.on("data", (d: Buffer) => (out += d.toString()));
    json.stderr.on("data", (d: Buffer) => (err += d.toString()));
    try {
      for (let i = 0; !/channel: no port yet/.test(err); i++) {
        if (i > 500 || json.exitCode !== null) assert.fail(`it never waited for the port: ${err}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      // the port is plugged back: the host's lines come again
      await mkdir(join(sys, "class", "virtio-ports", "vport1p1"));
      await writeFile(join(sys, "class", "virtio-ports", "vport1p1", "name"), `${CHANNEL_NAME}\n`);
      execFileSync("mkfifo", [join(dev, "vport1p1")]);
      const fh = await open(join(dev, "vport1p1"), "r+");
      for (let seq = 2; seq <= 6; seq++) {
        writeSync(fh.fd, line(seq, seq * 5_000_000));
        await new Promise((r) => setTimeout(r, 400));
      }
      await new Promise((r) => json.once("exit", r));
      await fh.close();
    } finally {
      json.kill();
    }
    assert.doesNotMatch(err, /carries its host's clock/, "it did not read the tree as it is");
    assert.ok(Number((await readFile(join(tree, "intel-rapl:0", "energy_uj"), "utf8")).trim()) > 5_000_000, "the tree moved again");
    const reports = JSON.parse(out) as { host: { consumption: number } }[];
    assert.ok(
      reports.some((r) => r.host.consumption > 0),
      out,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
