import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export interface PostResult {
  status: number;
  /** The start of the answer's body (at most 1 KiB), for log lines. */
  body: string;
}

export interface PostOptions {
  headers: Record<string, string>;
  timeoutMs: number;
  /** https: accept any certificate (--no-tls-check). */
  insecure?: boolean;
}

const MAX_BODY = 1024;

/**
 * POSTs `body` to `url` (http or https) and resolves with the status and the
 * start of the answer; rejects on a network error, or when the whole
 * exchange has not ended within `timeoutMs` (a peer that trickles its answer
 * a byte at a time is cut off there, not only one that goes silent). At most
 * MAX_BODY bytes of the answer are read: then the connection is closed, so
 * an endless body costs neither memory nor CPU. Node's own http/https
 * (fetch cannot skip a certificate check per request).
 */
export function post(url: URL, body: string, options: PostOptions): Promise<PostResult> {
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      f();
    };
    const req = request(
      url,
      {
        method: "POST",
        headers: { ...options.headers, "Content-Length": Buffer.byteLength(body) },
        timeout: options.timeoutMs,
        ...(url.protocol === "https:" && options.insecure ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const answer = (): PostResult => ({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8").slice(0, MAX_BODY).trim() });
        res.on("data", (c: Buffer) => {
          chunks.push(c);
          size += c.length;
          if (size < MAX_BODY) return;
          settle(() => resolve(answer())); // enough to say what the peer meant: the rest is not read
          res.destroy();
          req.destroy();
        });
        res.on("end", () => settle(() => resolve(answer())));
        res.on("error", (err) => settle(() => reject(err)));
      },
    );
    const deadline = setTimeout(() => req.destroy(new Error(`no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.on("error", (err) => settle(() => reject(err)));
    req.end(body);
  });
}

/**
 * One send at a time, in the background: a sink's write() starts a send and
 * returns; a send asked for while one is in flight is skipped (the next
 * carries the newer values), so a slow peer never blocks the loop.
 */
export class Background {
  private inFlight: Promise<void> | null = null;

  /** Starts `f` unless a send is in flight; whether it started (the caller counts what it did not send). */
  run(f: () => Promise<void>): boolean {
    if (this.inFlight) return false;
    this.inFlight = f().finally(() => {
      this.inFlight = null;
    });
    return true;
  }

  /** Waits for the send in flight, at most `ms`. */
  async settle(ms: number): Promise<void> {
    const p = this.inFlight;
    if (!p) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}
