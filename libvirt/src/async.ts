import { Worker } from "node:worker_threads";
import { ErrorCode, ErrorLevel, LibvirtError, LibvirtTimeoutError, LibvirtUnavailableError } from "./errors.js";
import type { Request, Response } from "./protocol.js";
import type { RawDomainInfo } from "./raw.js";

export type DomainInfo = RawDomainInfo;

export interface AsyncConnectionOptions {
  readOnly?: boolean;
  /** Per-call timeout, ms (default 10 s). */
  timeoutMs?: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  worker: Worker;
}

/**
 * A libvirt connection whose calls run on a worker thread, each with a
 * timeout, so that a hung libvirtd never freezes the caller's event loop.
 * Only plain data crosses threads: domains are named by UUID.
 *
 * After a timeout the worker is abandoned (a thread stuck in a native call
 * cannot be interrupted) and the next call starts a new one and reconnects.
 */
export class AsyncConnection {
  private worker: Worker | null = null;
  private opened = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  readonly timeoutMs: number;
  readonly readOnly: boolean;

  private constructor(
    readonly uri: string,
    options: AsyncConnectionOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.readOnly = options.readOnly ?? false;
  }

  /** Opens the connection on a worker thread. */
  static async open(uri: string, options: AsyncConnectionOptions = {}): Promise<AsyncConnection> {
    const c = new AsyncConnection(uri, options);
    try {
      await c.ensureOpen();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  private spawn(): Worker {
    const w = new Worker(new URL("./worker.js", import.meta.url));
    w.on("message", (res: Response) => this.settle(res));
    w.on("error", (err) => this.failAll(w, err));
    w.on("exit", () => {
      if (this.worker === w) {
        this.worker = null;
        this.opened = false;
      }
      this.failAll(w, new Error("libvirt worker exited"));
    });
    return w;
  }

  private settle(res: Response): void {
    const p = this.pending.get(res.id);
    if (!p) return;
    this.pending.delete(res.id);
    clearTimeout(p.timer);
    if (res.ok) return p.resolve(res.value);
    const e = res.error;
    p.reject(e.kind === "libvirt" ? new LibvirtError(e) : e.kind === "unavailable" ? new LibvirtUnavailableError(e.message) : new Error(e.message));
  }

  /** Rejects the calls pending on one worker. */
  private failAll(w: Worker, err: Error): void {
    for (const [id, p] of this.pending) {
      if (p.worker !== w) continue;
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }

  private send<T>(req: Request, timeoutMs = this.timeoutMs): Promise<T> {
    if (!this.worker) this.worker = this.spawn();
    return this.sendTo<T>(this.worker, req, timeoutMs);
  }

  private sendTo<T>(w: Worker, req: Request, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        // The thread is stuck in native code: abandon it.
        if (this.worker === w) {
          this.worker = null;
          this.opened = false;
        }
        this.failAll(w, new LibvirtTimeoutError(req.op, timeoutMs));
        void w.terminate().catch(() => {});
        reject(new LibvirtTimeoutError(req.op, timeoutMs));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, worker: w });
      w.postMessage({ id, req });
    });
  }

  private async ensureOpen(): Promise<void> {
    if (this.closed)
      throw new LibvirtError({ code: ErrorCode.INVALID_CONN, domain: 0, level: ErrorLevel.ERROR, message: "connection is closed", call: "AsyncConnection" });
    if (this.opened && this.worker) return;
    await this.send({ op: "open", uri: this.uri, readOnly: this.readOnly });
    this.opened = true;
  }

  private async call<T>(req: Request): Promise<T> {
    await this.ensureOpen();
    return this.send<T>(req);
  }

  async isAlive(): Promise<boolean> {
    if (!this.opened || !this.worker) return false;
    return this.send<boolean>({ op: "isAlive" });
  }

  /** Name, UUID, id and state of every domain (flags: ListDomainsFlags). */
  listDomains(flags = 0): Promise<DomainInfo[]> {
    return this.call({ op: "listDomains", flags });
  }

  domainXml(uuid: string, flags = 0): Promise<string> {
    return this.call({ op: "domainXml", uuid, flags });
  }

  /** Whether a domain has a persistent definition (a transient one, `virsh create`, has none). */
  isPersistent(uuid: string): Promise<boolean> {
    return this.call({ op: "isPersistent", uuid });
  }

  /** Defines (or redefines) a persistent domain; resolves with its UUID. Needs a read-write connection. */
  defineXML(xml: string): Promise<string> {
    return this.call({ op: "defineXML", xml });
  }

  /** Attaches a device (flags: DeviceModifyFlags, e.g. LIVE). Needs a read-write connection. */
  async attachDevice(uuid: string, xml: string, flags: number): Promise<void> {
    await this.call({ op: "attachDevice", uuid, xml, flags });
  }

  /** Closes the connection and ends the worker (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    try {
      if (this.opened) await this.sendTo(w, { op: "close" }, Math.min(this.timeoutMs, 2000));
    } catch {
      // a hung worker is abandoned below
    }
    await w.terminate().catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
