import type { Seconds } from "./units.js";

export interface LoopOptions {
  /** Time between measurements. */
  stepS: Seconds;
  /** Total run time; <= 0 runs until the signal aborts. */
  timeoutS: Seconds;
  signal?: AbortSignal;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Calls `tick` every step (aligned on a fixed schedule, so a slow tick does
 * not drift the next ones) until the timeout or the abort signal.
 */
export async function runEvery(options: LoopOptions, tick: () => Promise<void>): Promise<void> {
  const start = Date.now();
  const stepMs = Math.max(1, options.stepS * 1000);
  let next = start + stepMs;
  const endless = !(options.timeoutS > 0);
  for (;;) {
    if (!endless && next - start > options.timeoutS * 1000 + 1) break;
    await sleep(Math.max(0, next - Date.now()), options.signal);
    if (options.signal?.aborted) break;
    await tick();
    next += stepMs;
    if (next < Date.now()) next = Date.now() + stepMs;
  }
}
