/**
 * The channel sink end to end on the host: libvirt's live XML (test driver)
 * gives web-1 a channel, the daemon's pipeline writes its lines to the unix
 * socket a test server plays qemu with.
 */
import { waitFor } from "@scaph/test-support";
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, parseMessage } from "@scaph/common";
import type { ChannelMessage } from "@scaph/common";
import { fixturesDir } from "@scaph/test-support";
import { libVersion } from "@scaph/libvirt";
import { ChannelSink } from "../../src/index.js";
import { LibvirtDomains } from "../../src/qemu/libvirt-source.js";
import { qemuRig, WEB_CG } from "./rig.js";
import type { QemuRig } from "./rig.js";

/** qemu's side of the channel: a unix socket server that keeps the lines it gets. */
async function qemuSide(path: string, read = true): Promise<{ server: Server; lines: ChannelMessage[]; clients: Socket[]; close(): Promise<void> }> {
  const lines: ChannelMessage[] = [];
  const clients: Socket[] = [];
  const server = createServer((s) => {
    clients.push(s);
    s.on("error", () => {}); // the daemon going away mid-write is part of the tests
    if (!read) return s.pause();
    let partial = "";
    s.on("data", (d: Buffer) => {
      const parts = (partial + d.toString()).split("\n");
      partial = parts.pop() ?? "";
      for (const p of parts) {
        const r = parseMessage(p);
        assert.ok(r.ok, `a bad line from the daemon: ${p}`);
        lines.push(r.message);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    server,
    lines,
    clients,
    close: async () => {
      for (const c of clients) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A rig whose libvirt (the fixture node) gives web-1 a channel at `sock`; `sink` is the daemon's channel sink. */
async function channelRig(
  sock: string,
  dir: string,
): Promise<{ q: QemuRig; sink: ChannelSink; lv: LibvirtDomains; log: string[]; step(s?: number): Promise<void>; close(): Promise<void> }> {
  libVersion(); // needs libvirt.so.0 (Debian libvirt0)
  const node = join(dir, "node.xml");
  const xml = await readFile(join(fixturesDir(), "libvirt", "node.xml"), "utf8");
  const channel = `<channel type='unix'><source mode='bind' path='${sock}'/><target type='virtio' name='org.scaph.energy.0'/></channel>`;
  await writeFile(node, xml.replace(/(<name>web-1<\/name>[\s\S]*?<devices>)/, `$1${channel}`));
  const log: string[] = [];
  const lv = new LibvirtDomains(`test://${node}`, createLogger({ level: "info", write: (l) => log.push(l) }), 5000, join(dir, "no-channel-dir"));
  const q = await qemuRig({ libvirt: lv });
  return {
    q,
    get sink() {
      return q.channels;
    },
    lv,
    log: q.lines,
    async step(seconds = 1) {
      await q.step(seconds);
    },
    async close() {
      await lv.close();
      await q.cleanup();
    },
  };
}

test("channel: one line per step with the VM's counters since its epoch; no tree for a channel-only VM; reconnects", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-chan-"));
  const sock = join(dir, "web-1.sock");
  let qemu = await qemuSide(sock);
  const r = await channelRig(sock, dir);
  try {
    await r.step();
    await r.step(); // connected by now
    for (let i = 0; i < 4; i++) {
      await r.q.rig.power.advance("intel-rapl:0", 20_000_000);
      await r.q.rig.power.advance("intel-rapl:0:2", 4_000_000);
      await r.q.rig.proc.advanceBusy(400);
      await r.q.advanceCgroup(WEB_CG, 1_000_000);
      await r.step(2);
    }
    // Every line sent arrives (the first steps' lines, before the connection was up, were dropped: each carries the total).
    const key = "11111111-2222-3333-4444-555555555501";
    await waitFor("the last step's line", () => qemu.lines.at(-1)?.seq === r.sink.status().get(key)?.seq);
    await waitFor("every line counted as sent", () => qemu.lines.length === r.sink.status().get(key)?.sent);
    const ls = qemu.lines;
    assert.equal(new Set(ls.map((l) => l.epoch)).size, 1, "one epoch");
    assert.deepEqual(ls.map((l) => l.seq).slice(-4), [ls.at(-4)!.seq, ls.at(-4)!.seq + 1, ls.at(-4)!.seq + 2, ls.at(-4)!.seq + 3]);
    const last = ls.at(-1)!;
    const pkg = last.zones.find((z) => z.zone === "intel-rapl:0")!;
    const dram = last.zones.find((z) => z.name === "dram")!;
    // web-1 gets 100 of 400 busy ticks: a quarter of 24 J each step, dram a quarter of 4 J, over four steps.
    assert.equal(pkg.energy_uj + dram.energy_uj, 4 * 6_000_000);
    assert.equal(dram.energy_uj, 4 * 1_000_000);
    assert.equal(last.step_s, 2);
    assert.equal(pkg.max_energy_range_uj, 262143328850);
    await assert.rejects(stat(join(r.q.baseDir, "web-1")), /ENOENT/, "no tree for a VM that has the channel and no share");
    await stat(join(r.q.baseDir, "rhel-vm", "intel-rapl:0", "energy_uj")); // the others still get theirs
    const st = r.sink.status().get(key);
    assert.equal(st?.connected, true);
    assert.ok((st?.sent ?? 0) >= 4);

    // qemu's socket goes away (the VM restored, migrated in): the next steps connect to the new one, same epoch.
    await qemu.close();
    await rm(sock, { force: true });
    await r.step();
    qemu = await qemuSide(sock);
    await r.step();
    await r.step();
    await r.step();
    await waitFor("a line on the new socket", () => qemu.lines.length >= 1);
    assert.equal(qemu.lines[0]!.epoch, last.epoch);
    assert.ok(qemu.lines[0]!.seq > last.seq);
    assert.equal(r.sink.status().get(key)?.connected, true, "connected to the new socket");
  } finally {
    await r.close();
    await qemu.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("channel: a guest that does not read makes lines drop, counted, never a blocked step; its flood is never read", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-chan-"));
  const sock = join(dir, "web-1.sock");
  const qemu = await qemuSide(sock, false);
  const r = await channelRig(sock, dir);
  try {
    await r.step();
    await r.step();
    await waitFor("the connection", () => qemu.clients.length === 1);
    // The guest floods: 16 MiB written towards the daemon, which never reads it.
    const flood = Buffer.alloc(1 << 20, 0x78);
    // (the kernel takes what its socket buffer holds at once; the rest stays queued on qemu's side: what is checked below)
    for (let i = 0; i < 16; i++) qemu.clients[0]!.write(flood);
    let slowest = 0;
    for (let i = 0; i < 600; i++) {
      const t0 = performance.now();
      await r.q.step();
      slowest = Math.max(slowest, performance.now() - t0);
    }
    const st = r.sink.status().get("11111111-2222-3333-4444-555555555501")!;
    assert.ok(st.dropped > 0, `dropped ${st.dropped}, sent ${st.sent}`);
    assert.ok(st.sent > 0 && st.sent < 600, `sent ${st.sent}: the kernel buffer took some, then lines dropped`);
    // qemu's side still holds nearly all of the flood: the daemon read no more than the kernel's socket buffer.
    assert.ok(qemu.clients[0]!.writableLength > 15 * 2 ** 20, `qemu still holds ${qemu.clients[0]!.writableLength} bytes of the flood`);
    // Never blocked: all 600 steps returned (a step that waited on the guest would hang here, and the file's
    // deadline would fail it). Their time is reported, not bounded: it is the machine's load as much as ours.
    console.log(`# 600 steps against a guest that never reads, the slowest ${slowest.toFixed(1)} ms`);
  } finally {
    await r.close();
    await qemu.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("channel: a link planted at the socket's path (the qemu user owns libvirt's channel directories) is never connected through", async () => {
  const { symlink } = await import("node:fs/promises");
  const dir = await mkdtemp(join(tmpdir(), "scaph-chan-link-"));
  const sock = join(dir, "web-1.sock");
  // A root-only socket elsewhere, which the planted link points to.
  const secret = await qemuSide(join(dir, "root-only.sock"));
  await symlink(join(dir, "root-only.sock"), sock);
  const r = await channelRig(sock, dir);
  try {
    const key = "11111111-2222-3333-4444-555555555501";
    for (let i = 0; i < 4; i++) await r.step();
    await waitFor("the refusal in the channel's status", () => r.sink.status().get(key) !== undefined);
    assert.equal(secret.clients.length, 0, "nothing connected to the socket behind the link");
    assert.equal(secret.lines.length, 0);
    assert.equal(r.sink.status().get(key)?.connected, false);
    assert.equal(r.log.filter((l) => l.includes("symbolic link: refused")).length, 1, `said once: ${r.log.join("\n")}`);
  } finally {
    await r.close();
    await secret.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("channel: a peer that accepts and closes at once, step after step, is a line or two in the log, and no line counts as sent to it", async () => {
  const { createServer } = await import("node:net");
  const dir = await mkdtemp(join(tmpdir(), "scaph-chan-close-"));
  const sock = join(dir, "web-1.sock");
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    s.on("error", () => {});
    s.destroy(); // accepts, closes
  });
  await new Promise<void>((res) => server.listen(sock, res));
  const r = await channelRig(sock, dir);
  try {
    const key = "11111111-2222-3333-4444-555555555501";
    for (let i = 0; i < 30; i++) await r.step();
    await waitFor("connections refused by closing", () => accepted >= 10);
    // (at debug, each line sent is logged: -vv's trace, not what an operator reads)
    const said = r.log.filter((l) => l.includes("channel: VM web-1") && !l.includes(" DEBUG "));
    assert.ok(said.length <= 2, `${said.length} log lines for ${accepted} connections:\n${said.join("\n")}`);
    assert.ok((r.sink.status().get(key)?.sent ?? 0) <= 1, `${r.sink.status().get(key)?.sent} lines counted as sent to a peer that reads nothing`);
  } finally {
    await r.close();
    await new Promise<void>((res) => server.close(() => res()));
    await rm(dir, { recursive: true, force: true });
  }
});
