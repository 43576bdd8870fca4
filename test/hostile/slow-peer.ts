/**
 * A hostile peer for the sending exporters, in a process of its own (so its
 * flood costs the exporter's loop nothing but what the exporter does with
 * it): `node slow-peer.js http|riemann MODE`, prints `port N` once it
 * listens on 127.0.0.1. MODE:
 *   trickle      answers a byte every 300 ms, forever
 *   endless      answers an endless body (http) or endless ok frames (riemann), as fast as it goes
 *   huge         announces an answer of 64 GiB (http Content-Length) or 64 MiB (a riemann frame), then sends it
 *   unsolicited  floods bytes as soon as a connection opens, before any question
 *   reset        resets each connection at once (RST)
 * ("refused" needs no peer: a port nobody listens on.)
 */
import { createServer } from "node:net";
import type { Socket } from "node:net";

export const MODES = ["trickle", "endless", "huge", "unsolicited", "reset"] as const;
export type PeerMode = (typeof MODES)[number];

/** Riemann's `ok` answer: a Msg with field 2 (ok) true, framed. */
const RIEMANN_OK = Buffer.from([0, 0, 0, 2, 0x10, 0x01]);
const HTTP_OK_HEAD = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";

/** Writes `chunk` again and again as fast as the socket takes it, until it closes. */
function flood(s: Socket, chunk: Buffer): void {
  const more = (): void => {
    while (!s.destroyed && s.write(chunk)) {
      /* as fast as it goes */
    }
    if (!s.destroyed) s.once("drain", more);
  };
  more();
}

function trickle(s: Socket, bytes: Buffer): void {
  let i = 0;
  const t = setInterval(() => {
    if (s.destroyed) return clearInterval(t);
    s.write(bytes.subarray(i % bytes.length, (i % bytes.length) + 1));
    i++;
  }, 300);
  s.on("close", () => clearInterval(t));
}

function serve(proto: "http" | "riemann", mode: PeerMode, s: Socket): void {
  s.on("error", () => {});
  const big = Buffer.alloc(64 * 1024, "x");
  if (mode === "reset") return void s.resetAndDestroy();
  if (mode === "unsolicited") return flood(s, proto === "riemann" ? Buffer.concat(Array.from({ length: 1000 }, () => RIEMANN_OK)) : big);
  // The others answer once the question has come (its first bytes).
  s.once("data", () => {
    if (proto === "riemann") {
      if (mode === "trickle") return trickle(s, RIEMANN_OK);
      if (mode === "endless") return flood(s, Buffer.concat(Array.from({ length: 1000 }, () => RIEMANN_OK)));
      const head = Buffer.alloc(4);
      head.writeUInt32BE(64 * 1024 * 1024);
      s.write(head);
      return flood(s, big);
    }
    if (mode === "trickle") {
      s.write(`${HTTP_OK_HEAD}Content-Length: 1000000\r\n\r\n`);
      return trickle(s, Buffer.from("slow"));
    }
    s.write(`${HTTP_OK_HEAD}${mode === "huge" ? "Content-Length: 68719476736" : "Transfer-Encoding: identity\r\nConnection: close"}\r\n\r\n`);
    flood(s, big);
  });
}

const [proto, mode] = process.argv.slice(2);
if (proto === "http" || proto === "riemann") {
  if (!(MODES as readonly string[]).includes(mode ?? "")) throw new Error(`mode: one of ${MODES.join(", ")}`);
  const server = createServer((s) => serve(proto, mode as PeerMode, s));
  server.listen(0, "127.0.0.1", () => {
    const a = server.address();
    process.stdout.write(`port ${typeof a === "object" && a ? a.port : 0}\n`);
  });
}
