import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { AddressInfo } from "node:net";
import { decodeMsg, encodeFrame, loadRiemannProto, takeFrames } from "@scaph/common/riemann";
import type { RiemannMsg } from "@scaph/common/riemann";

export interface RiemannServerTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** A Riemann server for tests: decodes each framed Msg with the exporter's .proto and answers ok. */
export interface RiemannTestServer {
  port: number;
  /** Every Msg received, decoded, in order. */
  msgs: RiemannMsg[];
  /** The raw bytes of each Msg received (no length prefix). */
  raw: Buffer[];
  /** Errors seen on connections (a TLS client refused...). */
  errors: string[];
  /** Events received in all. */
  events(): number;
  /** Closes the listener and every connection (a server going away). */
  close(): Promise<void>;
  /** Listens again on the same port (a server restarted). */
  reopen(): Promise<void>;
}

/**
 * Starts the server on 127.0.0.1 (port 0: any free one). With `tls`, mutual
 * TLS: the client must show a certificate signed by `tls.ca`. A query Msg is
 * answered with the events of the last Msg received, as those bytes came
 * (plus ok), so that another client's decoder reads what the exporter encoded.
 */
export async function startRiemannServer(options: { tls?: RiemannServerTls; port?: number } = {}): Promise<RiemannTestServer> {
  await loadRiemannProto();
  const msgs: RiemannMsg[] = [];
  const raw: Buffer[] = [];
  const errors: string[] = [];
  const sockets = new Set<Socket>();
  const onSocket = (s: Socket): void => {
    sockets.add(s);
    let buf: Buffer = Buffer.alloc(0);
    s.on("error", (e) => errors.push(e.message));
    s.on("close", () => sockets.delete(s));
    s.on("data", (d: Buffer) => {
      const { frames, rest } = takeFrames(Buffer.concat([buf, d]));
      buf = rest;
      for (const f of frames) {
        const m = decodeMsg(f);
        if (m.query) {
          const last = [...raw].reverse().find((r) => (decodeMsg(r).events?.length ?? 0) > 0) ?? Buffer.alloc(0);
          const body = Buffer.concat([last, Buffer.from([0x10, 0x01])]); // the exporter's bytes, then field 2 (ok) = true
          const head = Buffer.alloc(4);
          head.writeUInt32BE(body.length, 0);
          s.write(Buffer.concat([head, body]));
          continue;
        }
        msgs.push(m);
        raw.push(Buffer.from(f));
        s.write(encodeFrame({ ok: true }));
      }
    });
  };
  let server: Server;
  let port = options.port ?? 0;
  const listen = async (): Promise<void> => {
    server = options.tls ? createTlsServer({ ...options.tls, requestCert: true, rejectUnauthorized: true }, onSocket) : createServer(onSocket);
    if (options.tls) server.on("tlsClientError", (e: Error) => errors.push(e.message));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    port = (server.address() as AddressInfo).port;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    msgs,
    raw,
    errors,
    events: () => msgs.reduce((n, m) => n + (m.events?.length ?? 0), 0),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
    reopen: listen,
  };
}
