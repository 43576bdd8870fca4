/**
 * A real libvirtd that stops answering mid-connection (a proxy in front of
 * its socket freezes), then comes back: the call times out on libvirt's
 * worker thread while the event loop goes on, the stuck worker is abandoned,
 * and the next call reconnects.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer } from "node:net";
import type { Socket } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AsyncConnection, LibvirtTimeoutError, ListDomainsFlags } from "@scaph/libvirt";
import { requireRoot } from "@scaph/test-support";
import { ensureLibvirtd } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";

let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

/** A unix-socket proxy to libvirtd's socket whose traffic can be frozen (held back) and thawed. */
async function freezableProxy(path: string, upstream: string) {
  let frozen = false;
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const up = connect(upstream);
    sockets.push(client, up);
    const pipe = (from: Socket, to: Socket): void => {
      from.on("data", (d: Buffer) => {
        if (!frozen) to.write(d);
      });
    };
    pipe(client, up);
    pipe(up, client);
    const end = (): void => {
      client.destroy();
      up.destroy();
    };
    client.on("error", end).on("close", end);
    up.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test("a libvirtd that hangs mid-connection: the call times out, the loop goes on, the next call reconnects", async (t) => {
  requireRoot("it starts libvirtd");
  daemon = await ensureLibvirtd();
  const dir = await mkdtemp(join(tmpdir(), "scaph-hang-"));
  const proxy = await freezableProxy(join(dir, "sock"), "/var/run/libvirt/libvirt-sock");
  const c = await AsyncConnection.open(`qemu+unix:///system?socket=${join(dir, "sock")}`, { readOnly: true, timeoutMs: 1000 });
  try {
    assert.ok(Array.isArray(await c.listDomains(ListDomainsFlags.ALL)));
    proxy.freeze();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const t0 = Date.now();
    try {
      await assert.rejects(c.listDomains(), (e: unknown) => {
        if (!(e instanceof LibvirtTimeoutError)) throw e;
        return e.call === "listDomains";
      });
    } finally {
      clearInterval(timer);
    }
    const took = Date.now() - t0;
    // the 1 s deadline was kept (no earlier), and the event loop ran meanwhile; how long it took is reported, not bounded
    assert.ok(took >= 950, `timed out after ${took} ms`);
    t.diagnostic(`listDomains gave up after ${took} ms (deadline 1000 ms)`);
    assert.ok(ticks >= 30, `the event loop ran ${ticks} timer ticks meanwhile`);
    proxy.thaw();
    // The stuck worker was abandoned: this call gets a new worker and a new connection.
    assert.ok(Array.isArray(await c.listDomains(ListDomainsFlags.ALL)));
    assert.equal(await c.isAlive(), true);
  } finally {
    await c.close();
    await proxy.close();
    await rm(dir, { recursive: true, force: true });
  }
});
