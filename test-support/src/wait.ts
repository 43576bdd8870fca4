import { errorMessage } from "@scaph/common";

/**
 * Polls `f` until it returns a value other than null (or false) or the time
 * is up: a test waits on state, never on a sleep. The deadline is a failure's
 * bound, not a measurement: a slow machine waits longer, never fails sooner
 * than `timeoutMs`. What `f` threw last is in the error.
 */
export async function waitFor<T>(what: string, f: () => Promise<T | null | false> | T | null | false, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await f();
      if (v !== null && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= end) throw new Error(`timed out waiting for ${what}${last !== null ? `: ${errorMessage(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
