/**
 * Keeps a directory fed in the background: runs `session` (a list, then a
 * follow of its changes) again and again until closed, waiting between two
 * failed sessions from 1 s, doubling, up to 30 s. A session that fails logs
 * its cause once (a WARN), not at every retry; one that works again says so
 * (INFO). Sessions never throw into the event loop.
 */
import { errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import { HttpCallError } from "./http.js";

export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 30_000;

export function keepFollowing(what: string, log: Logger, session: (signal: AbortSignal, healthy: () => void) => Promise<void>): AbortController {
  const ac = new AbortController();
  let waitMs = BACKOFF_MIN_MS;
  let failing: string | null = null;
  const healthy = (): void => {
    waitMs = BACKOFF_MIN_MS;
    if (failing !== null) log.info(`${what}: answering again`);
    failing = null;
  };
  const loop = async (): Promise<void> => {
    while (!ac.signal.aborted) {
      try {
        await session(ac.signal, healthy);
      } catch (err) {
        const cause = err instanceof HttpCallError ? err.reason : "error";
        if (failing !== cause) log.warn(`${what}: ${errorMessage(err)}; retrying in the background (said once per cause)`);
        failing = cause;
        waitMs = Math.min(BACKOFF_MAX_MS, waitMs * 2);
      }
      if (ac.signal.aborted) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, waitMs);
        t.unref();
        ac.signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
      });
    }
  };
  void loop();
  return ac;
}
