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
 * start of the answer; rejects on a network error or the timeout. Node's own
 * http/https (fetch cannot skip a certificate check per request).
 */
export function post(url: URL, body: string, o: PostOptions): Promise<PostResult> {
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        headers: { ...o.headers, "Content-Length": Buffer.byteLength(body) },
        timeout: o.timeoutMs,
        ...(url.protocol === "https:" && o.insecure ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          if (size < MAX_BODY) chunks.push(c);
          size += c.length;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8").slice(0, MAX_BODY).trim() }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * One send at a time, in the background: a sink's write() starts a send and
 * returns; a send asked for while one is in flight is skipped and counted
 * (the next carries the newer values), so a slow peer never blocks the loop.
 */
export class Background {
  private inFlight: Promise<void> | null = null;
  /** Sends skipped because the previous one was still running. */
  skipped = 0;

  run(f: () => Promise<void>): boolean {
    if (this.inFlight) {
      this.skipped++;
      return false;
    }
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
