import { connect as netConnect } from "node:net";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { decodeMsg, takeFrames } from "./proto.js";
import type { RiemannMsg } from "./proto.js";

export interface RiemannTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface RiemannClientOptions {
  /** With TLS, the server's name, checked against its certificate. */
  host: string;
  port: number;
  tls?: RiemannTls;
  /** Connecting, and waiting for the answer to a message, ms. */
  timeoutMs: number;
  /** Backoff after a failure: from minMs, doubling, to maxMs. */
  backoff?: { minMs: number; maxMs: number };
  now?: () => number;
}

/** The largest answer read: an ok, or an error with its reason, is a few bytes. */
const MAX_ANSWER = 64 * 1024;

/**
 * A Riemann TCP (or mutual TLS) connection: one Msg frame out, one answer
 * frame back, checked for `ok`. Connects on demand; after a failure, the
 * next connection waits a backoff (1 s doubling to 30 s), and a send before
 * then fails at once, so a dead server costs nothing.
 */
export class RiemannClient {
  private socket: Socket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: { resolve: (m: RiemannMsg) => void; reject: (e: Error) => void } | null = null;
  private delayMs: number;
  private nextAttemptMs = 0;
  /** Connections made (the first, and each reconnection). */
  connects = 0;

  constructor(private readonly options: RiemannClientOptions) {
    this.delayMs = options.backoff?.minMs ?? 1000;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private fail(err: Error): void {
    const w = this.waiter;
    this.waiter = null;
    this.socket?.destroy();
    this.socket = null;
    this.buf = Buffer.alloc(0);
    w?.reject(err);
  }

  private connect(): Promise<Socket> {
    if (this.now() < this.nextAttemptMs) {
      return Promise.reject(new Error(`not connected (next attempt in ${Math.ceil((this.nextAttemptMs - this.now()) / 1000)} s)`));
    }
    return new Promise((resolve, reject) => {
      const { host, port, tls } = this.options;
      const s = tls ? tlsConnect({ host, port, servername: host, ca: tls.ca, cert: tls.cert, key: tls.key }) : netConnect({ host, port });
      const timer = setTimeout(() => s.destroy(new Error(`no connection within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      s.once(tls ? "secureConnect" : "connect", () => {
        clearTimeout(timer);
        s.removeAllListeners("error");
        s.on("error", (err: Error) => this.fail(err));
        s.on("close", () => this.fail(new Error("connection closed by the server")));
        s.on("data", (d: Buffer) => this.onData(d));
        this.connects++;
        this.delayMs = this.options.backoff?.minMs ?? 1000;
        resolve(s);
      });
      s.once("error", (err: Error) => {
        clearTimeout(timer);
        s.destroy();
        // wait before the next attempt: 1 s, doubling to 30 s, back to 1 s once connected
        this.nextAttemptMs = this.now() + this.delayMs;
        this.delayMs = Math.min(this.delayMs * 2, this.options.backoff?.maxMs ?? 30_000);
        reject(err);
      });
    });
  }

  private onData(d: Buffer): void {
    // A server speaks only to answer: bytes nobody asked for (a peer that floods), or an answer announced
    // larger than any ok or error, end the connection instead of being read.
    if (this.waiter === null) return this.fail(new Error("the server sent data nobody asked for"));
    try {
      const { frames, rest } = takeFrames(this.buf.length > 0 ? Buffer.concat([this.buf, d]) : d, MAX_ANSWER);
      this.buf = rest;
      const [answer] = frames;
      if (answer === undefined) return;
      // One question, one answer: anything after it was never asked for (a peer that floods ok frames,
      // whose first one would otherwise pass for the answer to every message).
      if (frames.length > 1 || rest.length > 0) return this.fail(new Error("the server sent data nobody asked for"));
      const w = this.waiter;
      this.waiter = null;
      w.resolve(decodeMsg(answer));
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Sends one framed Msg and resolves once the server answered ok; rejects with the reason otherwise. */
  async send(frame: Buffer): Promise<void> {
    this.socket ??= await this.connect();
    const socket = this.socket;
    const answer = await new Promise<RiemannMsg>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      this.waiter = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      socket.write(frame);
    });
    if (answer.ok !== true) throw new Error(`the server refused the events: ${answer.error ?? "no reason given"}`);
  }

  close(): void {
    this.fail(new Error("closed"));
  }
}
