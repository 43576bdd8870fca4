/**
 * The two HTTP calls the container directories make (Docker Engine over
 * its unix socket, the Kubernetes API over TLS): one JSON answer, bounded
 * in time and size, and a stream of JSON lines, bounded per line. Neither
 * ever blocks a step: they run on the event loop between steps.
 */
import { errorMessage } from "../errors.js";
import type { ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import { createRequire } from "node:module";

/** node:https (and with it tls and crypto, 4-5 MB of RSS) and node:http loaded at the first call, not by every command. */
// builtins resolve from anywhere: "/" serves in the ESM build and in the guest's CommonJS bundle (no import.meta.url there)
const load = createRequire("/");
let https: typeof import("node:https") | null = null;
let http: typeof import("node:http") | null = null;
const httpsModule = (): typeof import("node:https") => (https ??= load("node:https") as typeof import("node:https"));
const httpModule = (): typeof import("node:http") => (http ??= load("node:http") as typeof import("node:http"));

export interface Endpoint {
  /** A unix socket (Docker) or an https:// base URL (Kubernetes). */
  socketPath?: string;
  baseUrl?: URL;
  /** TLS: the CA that signs the server's certificate. */
  ca?: Buffer;
  /** Headers of every request (Authorization). */
  headers?: () => Record<string, string>;
}

/** Why a call failed, in a word for the log's once-per-cause key. */
export class HttpCallError extends Error {
  constructor(
    readonly reason: "unreachable" | "timeout" | "status" | "too-large" | "not-json" | "line-too-long",
    message: string,
  ) {
    super(message);
    this.name = "HttpCallError";
  }
}

function start(ep: Endpoint, path: string, onResponse: (res: IncomingMessage) => void): ClientRequest {
  const headers = { Accept: "application/json", ...ep.headers?.() };
  if (ep.socketPath !== undefined) {
    return httpModule().request({ socketPath: ep.socketPath, path, headers, host: "docker" } satisfies RequestOptions, onResponse);
  }
  const url = new URL(path, ep.baseUrl);
  return httpsModule().request(url, { headers, ...(ep.ca ? { ca: ep.ca } : {}) }, onResponse);
}

/** GETs `path` and parses the JSON answer; fails past `timeoutMs` or `maxBytes`. */
export function getJson(ep: Endpoint, path: string, options: { timeoutMs: number; maxBytes: number; onBytes?: (n: number) => void }): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const fail = (e: HttpCallError): void => {
      req.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new HttpCallError("timeout", `no whole answer to GET ${path} within ${options.timeoutMs} ms`)), options.timeoutMs);
    const req = start(ep, path, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        clearTimeout(timer);
        fail(new HttpCallError("status", `GET ${path}: HTTP ${res.statusCode ?? "?"}`));
        return;
      }
      const chunks: Buffer[] = [];
      let n = 0;
      res.on("data", (d: Buffer) => {
        n += d.length;
        if (n > options.maxBytes) {
          clearTimeout(timer);
          fail(new HttpCallError("too-large", `GET ${path}: answer over ${options.maxBytes} bytes`));
          return;
        }
        chunks.push(d);
      });
      res.on("end", () => {
        clearTimeout(timer);
        options.onBytes?.(n);
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch {
          reject(new HttpCallError("not-json", `GET ${path}: the answer is not JSON`));
        }
      });
      res.on("error", () => undefined);
    });
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(new HttpCallError("unreachable", `GET ${path}: ${err.message}`));
    });
    req.end();
  });
}

/**
 * GETs `path` and calls `onLine` with each JSON line of the streamed answer
 * (Docker's events, a Kubernetes watch). Resolves when the stream ends;
 * rejects on an error, a status other than 200, no answer within
 * `connectTimeoutMs`, or a line over `maxLineBytes`. `signal` ends it.
 */
export function streamJsonLines(
  ep: Endpoint,
  path: string,
  options: { connectTimeoutMs: number; maxLineBytes: number; signal: AbortSignal },
  onLine: (value: unknown) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err?: HttpCallError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal.removeEventListener("abort", abort);
      req.destroy();
      if (err) reject(err);
      else resolve();
    };
    const abort = (): void => done();
    const timer = setTimeout(
      () => done(new HttpCallError("timeout", `no answer to GET ${path} within ${options.connectTimeoutMs} ms`)),
      options.connectTimeoutMs,
    );
    const req = start(ep, path, (res) => {
      clearTimeout(timer);
      if (res.statusCode !== 200) {
        res.resume();
        done(new HttpCallError("status", `GET ${path}: HTTP ${res.statusCode ?? "?"}`));
        return;
      }
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      res.on("data", (d: Buffer) => {
        let from = 0;
        for (let nl = d.indexOf(10, from); nl >= 0 && !settled; nl = d.indexOf(10, from)) {
          pending.push(d.subarray(from, nl));
          const line = Buffer.concat(pending).toString("utf8").trim();
          pending = [];
          pendingBytes = 0;
          from = nl + 1;
          if (line === "") continue;
          let value: unknown;
          try {
            value = JSON.parse(line);
          } catch {
            done(new HttpCallError("not-json", `GET ${path}: a streamed line is not JSON`));
            return;
          }
          try {
            onLine(value);
          } catch (err) {
            done(err instanceof HttpCallError ? err : new HttpCallError("not-json", `GET ${path}: ${errorMessage(err)}`));
            return;
          }
        }
        if (settled || from >= d.length) return;
        pendingBytes += d.length - from;
        if (pendingBytes > options.maxLineBytes) {
          done(new HttpCallError("line-too-long", `GET ${path}: a streamed line runs over ${options.maxLineBytes} bytes`));
          return;
        }
        pending.push(Buffer.from(d.subarray(from)));
      });
      res.on("end", () => done());
      res.on("error", () => done());
      res.on("close", () => done());
    });
    req.on("error", (err) => done(new HttpCallError("unreachable", `GET ${path}: ${err.message}`)));
    if (options.signal.aborted) done();
    else options.signal.addEventListener("abort", abort);
    req.end();
  });
}
