/** The Riemann client against real TCP peers that misbehave: each ends the connection, none is read on. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { RiemannClient } from "../../src/exporters/riemann/client.js";
import { encodeFrame, loadRiemannProto } from "../../src/exporters/riemann/proto.js";

async function peer(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number; bytesOut: () => number }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, bytesOut: () => sockets.reduce((a, s) => a + s.bytesWritten, 0) };
}

const stop = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

test("a peer announcing a 64 MiB answer: the send fails at once, nothing of it is buffered", async () => {
  const p = await peer((s) => {
    s.once("data", () => {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(64 * 1024 * 1024);
      s.write(head);
      s.write(Buffer.alloc(256 * 1024, 1)); // the start of it
    });
  });
  const c = new RiemannClient({ host: "127.0.0.1", port: p.port, timeoutMs: 10_000 });
  try {
    await loadRiemannProto();
    await assert.rejects(c.send(encodeFrame({ ok: true })), /a Riemann frame of 67108864 bytes \(more than 65536\)/);
  } finally {
    c.close();
    await stop(p.server);
  }
});

test("a peer that sends frames nobody asked for: the connection ends instead of reading them all", async () => {
  await loadRiemannProto();
  const ok = encodeFrame({ ok: true });
  let flooding = true;
  const p = await peer((s) => {
    const more = (): void => {
      while (flooding && !s.destroyed && s.write(Buffer.concat(Array.from({ length: 1000 }, () => ok)))) {
        /* as fast as it goes */
      }
      if (flooding && !s.destroyed) s.once("drain", more);
    };
    more(); // before any question
  });
  const c = new RiemannClient({ host: "127.0.0.1", port: p.port, timeoutMs: 10_000, backoff: { minMs: 60_000, maxMs: 60_000 } });
  try {
    // The first send may get a stray ok as its answer; whatever it got, the connection is then closed on the
    // flood, and the next send needs a new connection.
    await c.send(ok).catch(() => {});
    const end = Date.now() + 10_000;
    while (c.connects < 2 && Date.now() < end) {
      await c.send(ok).catch(() => {});
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(c.connects >= 2, "the flooded connection was closed and a new one made");
  } finally {
    flooding = false;
    c.close();
    await stop(p.server);
  }
});
