/** post(), the sending exporters' HTTP client, against real local HTTP peers that misbehave. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { post } from "../../src/exporters/push/post.js";

async function peer(answer: (res: ServerResponse) => void): Promise<{ url: URL; server: Server; closed: () => number }> {
  let closed = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => answer(res));
    res.on("close", () => closed++);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: new URL(`http://127.0.0.1:${port}/api/v0/update`), server, closed: () => closed };
}

const stop = (s: Server): Promise<void> => {
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
};

test("a peer that trickles its answer a byte at a time is cut off at the request's deadline, not only when it goes silent", async () => {
  const timers: NodeJS.Timeout[] = [];
  const p = await peer((res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    timers.push(setInterval(() => res.write("x"), 100)); // never idle for the 300 ms idle timeout
  });
  try {
    await assert.rejects(post(p.url, "body", { headers: {}, timeoutMs: 300 }), /no complete answer within 300 ms/);
  } finally {
    for (const t of timers) clearInterval(t);
    await stop(p.server);
  }
});

test("an endless answer: its first KiB is read, then the connection is closed", async () => {
  const p = await peer((res) => {
    res.writeHead(500, { "Content-Type": "text/plain" });
    const chunk = Buffer.alloc(64 * 1024, "e");
    const more = (): void => {
      while (res.write(chunk)) {
        if (res.destroyed) return;
      }
      res.once("drain", more);
    };
    more();
  });
  try {
    const r = await post(p.url, "body", { headers: {}, timeoutMs: 10_000 });
    assert.equal(r.status, 500);
    assert.ok(r.body.length <= 1024 && r.body.startsWith("eee"), `${r.body.length} characters`);
    const end = Date.now() + 10_000;
    while (p.closed() === 0 && Date.now() < end) await new Promise((x) => setImmediate(x));
    assert.equal(p.closed(), 1, "the client closed the connection");
  } finally {
    await stop(p.server);
  }
});
