/**
 * The Docker Engine API client against hostile peers on a unix socket: one
 * that never answers, one that answers garbage, one whose list never ends,
 * one whose event stream sends one endless line. Each is said once (a WARN
 * naming the cause), memory stays bounded, and the directory simply knows
 * no names. (The real dockerd is in test/e2e/containers-docker.system.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, DockerApi, DOCKER_LIMITS } from "../../src/index.js";
import { waitFor } from "@scaph/test-support";

const ID = "ab".repeat(32);
const LIST = JSON.stringify([{ Id: ID, Names: ["/web"], Labels: { team: "energy" } }]);

function answer(sock: Socket, body: string, extra = ""): void {
  sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** A peer on a unix socket: `behave(path, sock)` for each request line. */
async function peer(behave: (path: string, sock: Socket) => void): Promise<{ path: string; server: Server; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), "scaph-docker-peer-"));
  const path = join(dir, "docker.sock");
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on("error", () => undefined);
    sock.on("close", () => sockets.delete(sock));
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const line = buf.slice(0, buf.indexOf("\r\n"));
      buf = buf.slice(end + 4);
      behave(line.split(" ")[1] ?? "", sock);
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    path,
    server,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The log's lines, and the first WARN, as the logger writes it (no polling). */
function warnLog(): { lines: string[]; firstWarn: Promise<string>; write: (l: string) => void } {
  const lines: string[] = [];
  let said: (l: string) => void = () => undefined;
  const firstWarn = new Promise<string>((r) => (said = r));
  return { lines, firstWarn, write: (l) => (lines.push(l), l.includes(" WARN ") && said(l)) };
}

const cases: { name: string; cause: RegExp; behave: (path: string, sock: Socket) => void }[] = [
  { name: "never answers", cause: /within 3000 ms/, behave: () => undefined },
  { name: "answers garbage", cause: /not JSON/, behave: (_p, s) => answer(s, "<html>gateway</html>") },
  {
    name: "sends an endless list",
    cause: /over \d+ bytes/,
    behave: (p, s) => {
      if (p.startsWith("/version")) return answer(s, '{"Version":"27.0"}');
      s.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
      const chunk = Buffer.alloc(1 << 20, 0x20);
      const pump = (): void => {
        while (!s.destroyed && s.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`));
        if (!s.destroyed) s.once("drain", pump);
      };
      pump();
    },
  },
  {
    name: "streams one endless event line",
    cause: /line runs over/,
    behave: (p, s) => {
      if (p.startsWith("/version")) return answer(s, '{"Version":"27.0"}');
      if (p.startsWith("/containers/json")) return answer(s, LIST);
      s.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
      const chunk = "x".repeat(64 * 1024);
      const pump = (): void => {
        while (!s.destroyed && s.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`));
        if (!s.destroyed) s.once("drain", pump);
      };
      pump();
    },
  },
];

for (const c of cases) {
  test(`a Docker socket that ${c.name}: one WARN naming the cause, bounded memory, no names`, async () => {
    const p = await peer(c.behave);
    const { lines, firstWarn, write } = warnLog();
    const log = createLogger({ level: "info", write });
    const rss0 = process.memoryUsage.rss();
    const api = new DockerApi(p.path, log);
    try {
      const w = await firstWarn; // the file's deadline bounds it
      assert.match(w, c.cause);
      assert.match(w, new RegExp(p.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
      if (c.name.includes("event")) assert.deepEqual(api.container(ID)?.names, ["web"], "what was listed before the stream went bad stays");
      else assert.equal(api.container(ID), undefined);
      const grown = (process.memoryUsage.rss() - rss0) / 2 ** 20;
      assert.ok(grown < DOCKER_LIMITS.maxListBytes / 2 ** 20 + 64, `RSS grew ${grown.toFixed(1)} MiB`);
      assert.equal(lines.filter((l) => l.includes(" WARN ")).length, 1);
    } finally {
      api.close();
      p.close();
    }
  });
}

test("Docker's list: containers that do not check out are left out, names lose their slash", async () => {
  const p = await peer((path, s) => {
    if (path.startsWith("/version")) return answer(s, '{"Version":"27.0"}');
    if (path.startsWith("/containers/json"))
      return answer(s, JSON.stringify([{ Id: "../../etc", Names: ["/x"] }, { Id: ID, Names: ["/web", 7], Labels: { a: "b", n: 1 } }, null, "str"]));
    s.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
  });
  const api = new DockerApi(p.path, createLogger({ level: "error", write: () => undefined }));
  try {
    for (let i = 0; i < 400 && api.lists === 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.deepEqual(api.container(ID), { names: ["web"], labels: { a: "b" } });
    assert.equal(api.version(), "27.0");
    assert.equal(api.container("../../etc"), undefined);
  } finally {
    api.close();
    p.close();
  }
});

test("Docker events at a healthcheck's rate (hostile round 3, item 7): 50 a second, 5,000 containers; a healthcheck's events list nothing, creations list one at a time, spaced", async () => {
  // the peer stands in for dockerd (the real one is in the system tier's containers-docker test)
  const many = JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ Id: i.toString(16).padStart(64, "0"), Names: [`/c${i}`], Labels: { n: String(i) } })));
  let listing = 0;
  let overlapping = 0;
  let eventsPath = "";
  let events: Socket | null = null;
  const p = await peer((path, s) => {
    if (path.startsWith("/version")) return answer(s, '{"Version":"27.0"}');
    if (path.startsWith("/containers/json")) {
      if (++listing > 1) overlapping++;
      setTimeout(() => {
        listing--;
        answer(s, many);
      }, 50);
      return;
    }
    eventsPath = decodeURIComponent(path);
    s.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    events = s;
  });
  const api = new DockerApi(p.path, createLogger({ level: "error", write: () => undefined }));
  const send = (action: string, n: number): void => {
    for (let i = 0; i < n; i++) {
      const line = JSON.stringify({ Type: "container", Action: action, Actor: { ID: "0".repeat(64), Attributes: { name: "c0" } } }) + "\n";
      events?.write(`${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`);
    }
  };
  const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 100));
  try {
    await until(
      () => api.lists > 0 && events !== null,
      () => "a first list and the event stream",
    );
    assert.equal(api.lists, 1);
    assert.match(eventsPath, /"event":\["create","destroy","rename"\]/, "only the events that change names, labels or which containers exist are asked for");
    // two seconds of a healthcheck's events (a peer that ignores the filter): no list
    for (let i = 0; i < 20; i++) {
      send("health_status: healthy", 3);
      send("exec_start: /bin/true", 2);
      await tick();
    }
    await until(
      () => api.eventsRead >= 100,
      () => `${api.eventsRead} of 100 healthcheck events read`,
    );
    assert.equal(api.lists, 1, "a healthcheck's events list nothing");
    // five seconds of 50 creations a second
    const t0 = Date.now();
    for (let i = 0; i < 50; i++) {
      send("create", 5);
      await tick();
    }
    const seconds = (Date.now() - t0) / 1000;
    await waitForLists(api, 2);
    const after = api.lists - 1;
    console.log(`# 250 creations over ${seconds.toFixed(1)} s: ${after} lists of 5,000 containers`);
    assert.ok(after >= 1, "creations do list");
    assert.ok(after <= 2 + seconds / (DOCKER_LIMITS.relistMinGapMs / 1000), `${after} lists in ${seconds.toFixed(1)} s: at most one a second`);
    assert.equal(overlapping, 0, "never two lists at once");
  } finally {
    api.close();
    p.close();
  }
});

async function waitForLists(api: DockerApi, n: number): Promise<void> {
  await until(
    () => api.lists >= n,
    () => `${api.lists} of ${n} lists`,
  );
}

/** Waits until `cond` holds, failing with `what` after 60 s (test-support's waitFor, polling every 10 ms). */
async function until(cond: () => boolean, what: () => string): Promise<void> {
  await waitFor("the state", () => cond(), 60_000, 10).catch(() => assert.fail(`timed out waiting: ${what()}`));
}
