/**
 * The channel sink across a VM's absence: a VM saved and restored here
 * continues its epoch, anything else that brings a VM back begins one. The
 * Snapshots are made here (the sink reads only its VMs, times and zones);
 * qemu's side of each channel is a unix socket server, as in
 * channel.system.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, parseMessage } from "@scaph/common";
import type { ChannelMessage, Snapshot, VmSnapshot } from "@scaph/common";
import { waitFor } from "@scaph/test-support";
import { ChannelSink } from "../../src/qemu/channel-sink.js";
import { KEEP_GONE_S } from "../../src/qemu/state.js";

const KEY = "11111111-2222-3333-4444-555555555501";
const PKG = "intel-rapl:0";
/** Host time of the first step (Unix s): lines of a time before 2001 are refused. */
const T0 = 1_800_000_000;

/** qemu's side of a channel: keeps the lines it reads; `hold()` stops reading (a paused guest), and what then comes is lost with it. */
async function qemuSide(path: string): Promise<{ lines: ChannelMessage[]; raw: string[]; hold(): void; close(): Promise<void> }> {
  const lines: ChannelMessage[] = [];
  const raw: string[] = [];
  const clients: Socket[] = [];
  let holding = false;
  const server: Server = createServer((s) => {
    clients.push(s);
    s.on("error", () => {});
    let partial = "";
    s.on("data", (d: Buffer) => {
      if (holding) return;
      const parts = (partial + d.toString()).split("\n");
      partial = parts.pop() ?? "";
      for (const p of parts) {
        const r = parseMessage(p);
        assert.ok(r.ok, `a bad line from the daemon: ${p}`);
        lines.push(r.message);
        raw.push(p);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    lines,
    raw,
    hold: () => (holding = true),
    close: async () => {
      for (const c of clients) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A step of `gainUj` for web-1 (its channel at `path`, or no VM when null), ending at host time `t` (steps of 1 s). */
function snapshot(t: number, path: string | null, gainUj: number, restored = false): Snapshot {
  const vm: VmSnapshot = {
    key: KEY,
    name: "web-1",
    uuid: KEY,
    libvirt: true,
    pid: 4242,
    cpuSource: "cgroup",
    cpuTicks: 100,
    share: 0.5,
    energyUj: gainUj,
    powerUw: gainUj,
    zonesUj: new Map([[PKG, gainUj]]),
    transports: { channelPath: path, share: false },
    ...(restored ? { restored: true } : {}),
  };
  return {
    timestampS: t,
    intervalS: 1,
    valueSource: "powercap_rapl_pkg",
    estimated: false,
    host: { energyUj: 2 * gainUj, powerUw: 2 * gainUj },
    sockets: [],
    zones: [],
    subDomains: [],
    busyTicks: 200,
    processCount: 1,
    processes: [],
    vms: path === null ? [] : [vm],
    incomingVms: [],
    containers: null,
    othersUj: 0,
    attributedUj: gainUj,
    hostStats: null,
    procFilesHeld: 0,
  };
}

const pkg = (m: ChannelMessage): number => m.zones.find((z) => z.zone === PKG)?.energy_uj ?? NaN;

async function withSink(f: (sink: ChannelSink, dir: string, log: string[]) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "scaph-chansink-"));
  const log: string[] = [];
  const sink = new ChannelSink(createLogger({ level: "info", write: (l) => log.push(l) }));
  try {
    await f(sink, dir, log);
  } finally {
    sink.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Steps until qemu's side has read `n` lines in all (a step's line waits for the connection the step before began). */
async function stepUntil(sink: ChannelSink, side: { lines: ChannelMessage[] }, n: number, next: () => Snapshot): Promise<void> {
  sink.write(next());
  await waitFor("the connection", () => sink.status().get(KEY)?.connected === true);
  while (side.lines.length < n) {
    const seq = sink.status().get(KEY)?.seq;
    await waitFor(`the line of seq ${seq}`, () => side.lines.at(-1)?.seq === seq);
    if (side.lines.length < n) sink.write(next());
  }
}

test("a VM restored from a save continues its epoch: the line the save lost, its absence, then its step; its counter loses nothing", async () => {
  await withSink(async (sink, dir, log) => {
    const a = join(dir, "domain-1-web-1.sock");
    const b = join(dir, "domain-2-web-1.sock");
    const old = await qemuSide(a);
    let t = T0;
    // It runs, and its guest reads: 1 J a step.
    sink.write(snapshot(++t, a, 1_000_000));
    await waitFor("connected to the first qemu", () => sink.status().get(KEY)?.connected === true);
    for (let i = 0; i < 3; i++) sink.write(snapshot(++t, a, 1_000_000));
    await waitFor("the first qemu read its lines", () => old.lines.at(-1)?.seq === sink.status().get(KEY)?.seq);
    const applied = old.lines.at(-1)!;
    // `virsh save`: the guest is paused (its lines pile up in qemu, lost with it), then its qemu is gone for 5 steps.
    old.hold();
    sink.write(snapshot(++t, a, 3_000_000));
    sink.write(snapshot(++t, a, 3_000_000));
    const leftAt = t;
    await old.close();
    for (let i = 0; i < 5; i++) sink.write(snapshot(++t, null, 0));
    assert.equal(sink.status().get(KEY), undefined, "a VM gone is not shown");
    // `virsh restore`: a new qemu, libvirt's running reason `restored`.
    const fresh = await qemuSide(b);
    const backAt = t + 1;
    await stepUntil(sink, fresh, 3, () => snapshot(++t, b, 1_000_000, true));
    const [lost, away, step] = fresh.lines as [ChannelMessage, ChannelMessage, ChannelMessage];
    assert.deepEqual(
      [lost, away, step].map((m) => m.epoch),
      [applied.epoch, applied.epoch, applied.epoch],
      "one epoch throughout",
    );
    // The last line made before it went away, as it was made: the 6 J of the save, which the guest never got.
    assert.equal(lost.t, leftAt);
    assert.equal(pkg(lost) - pkg(applied), 6_000_000);
    // Its absence: no energy, from that line to the start of this step.
    assert.equal(away.seq, lost.seq + 1);
    assert.equal(away.t, backAt - 1);
    assert.equal(pkg(away), pkg(lost));
    // Then this step's energy, over this step.
    assert.equal(step.seq, away.seq + 1);
    assert.equal(step.t, backAt);
    assert.equal(pkg(step) - pkg(away), 1_000_000);
    assert.equal(pkg(step), 4_000_000 + 6_000_000 + 1_000_000, "every µJ attributed since the epoch began");
    assert.ok(log.some((l) => /restored from a save: epoch \w+ continues/.test(l)));
    await fresh.close();
  });
});

/** web-1 runs two steps on socket a, goes away for `awayS`, and comes back on socket b (restored or not): its first line there, and its first epoch. */
async function comeBack(sink: ChannelSink, dir: string, awayS: number, restored: boolean): Promise<{ line: ChannelMessage; firstEpoch: string }> {
  const a = join(dir, "a.sock");
  const b = join(dir, "b.sock");
  const first = await qemuSide(a);
  let t = T0;
  await stepUntil(sink, first, 2, () => snapshot(++t, a, 2_000_000));
  await first.close();
  sink.write(snapshot(++t, null, 0));
  t += awayS;
  sink.write(snapshot(t, null, 0));
  const second = await qemuSide(b);
  await stepUntil(sink, second, 1, () => snapshot(++t, b, 1_000_000, restored));
  await second.close();
  return { line: second.lines[0]!, firstEpoch: first.lines[0]!.epoch };
}

test("a VM that comes back any other way (a boot, a migration in) begins a new epoch, with only its own energy", async () => {
  await withSink(async (sink, dir) => {
    const { line, firstEpoch } = await comeBack(sink, dir, 1, false);
    assert.notEqual(line.epoch, firstEpoch);
    assert.ok(pkg(line) <= 2_000_000, `a new epoch counts its own steps only: ${pkg(line)} µJ`);
    assert.equal(pkg(line), (line.t - line.t0!) * 1_000_000, "1 J a second since its epoch began, at its first step here");
  });
});

test("a VM restored more than a day after it went away begins a new epoch (its channel is forgotten, as its tree's counters are)", async () => {
  await withSink(async (sink, dir) => {
    const { line, firstEpoch } = await comeBack(sink, dir, KEEP_GONE_S + 1, true);
    assert.notEqual(line.epoch, firstEpoch);
  });
});
