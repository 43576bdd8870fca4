import type { Logger } from "./log.js";
import { errorMessage } from "./errors.js";
import type { Meter } from "./meter.js";
import { measureYieldingOrSkip } from "./meter.js";
import type { Sink } from "./exporters/sink.js";
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
 * not drift the next ones) until the abort signal, or for `timeoutS`: then
 * exactly max(1, floor(timeoutS / stepS)) ticks, however late a tick runs on
 * a loaded machine (`-t 10 -s 2` gives 5 reports).
 */
export async function runEvery(options: LoopOptions, tick: () => Promise<void>): Promise<void> {
  const stepMs = Math.max(1, options.stepS * 1000);
  let next = Date.now() + stepMs;
  const ticks = options.timeoutS > 0 ? Math.max(1, Math.floor(options.timeoutS / options.stepS + 1e-9)) : Infinity;
  for (let done = 0; done < ticks; done++) {
    await sleep(Math.max(0, next - Date.now()), options.signal);
    if (options.signal?.aborted) break;
    await tick();
    next += stepMs;
    if (next < Date.now()) next = Date.now() + stepMs;
  }
}

/**
 * The measurement loop: every step, one Snapshot from the meter (the only
 * reader of /proc and powercap; /proc read in chunks, so that a scrape
 * never waits for a whole step), handed to every sink in turn. A sink that
 * fails is logged (once per distinct error) and the others go on; a step
 * whose reading fails is skipped, and the next measures from the last good
 * reading. Sinks are closed at the end.
 */
export async function runLoop(meter: Meter, sinks: readonly Sink[], options: LoopOptions & { log: Logger }): Promise<void> {
  const failing = new Map<string, string>();
  try {
    await runEvery(options, async () => {
      const s = await measureYieldingOrSkip(meter, options.log);
      if (!s) return;
      for (const sink of sinks) {
        try {
          await sink.write(s);
          if (failing.delete(sink.name)) options.log.info(`${sink.name}: working again`);
        } catch (err) {
          const msg = errorMessage(err);
          if (failing.get(sink.name) !== msg) options.log.error(`${sink.name}: ${msg}`);
          failing.set(sink.name, msg);
        }
      }
    });
  } finally {
    meter.close();
    for (const sink of sinks) {
      try {
        await sink.close?.();
      } catch (err) {
        options.log.error(`${sink.name}: closing: ${errorMessage(err)}`);
      }
    }
  }
}
