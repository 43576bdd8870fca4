/** A small leveled logger writing to stderr, so stdout stays for reports. */
export type LogLevel = "error" | "warn" | "info" | "debug";

const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  /** Logs a warning the first time `key` is seen, not again (until it is among the oldest of WARN_ONCE_KEYS keys). */
  warnOnce(key: string, msg: string): void;
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  write?: (line: string) => void;
}

/** warnOnce remembers at most this many keys; the oldest are dropped first. */
export const WARN_ONCE_KEYS = 4096;

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = ORDER[options.level ?? "warn"];
  const write = options.write ?? writeStderr;
  const seen = new Set<string>();
  const emit = (level: LogLevel, msg: string): void => {
    if (ORDER[level] <= threshold) write(`${new Date().toISOString()} ${level.toUpperCase()} ${msg}`);
  };
  return {
    error: (m) => emit("error", m),
    warn: (m) => emit("warn", m),
    info: (m) => emit("info", m),
    debug: (m) => emit("debug", m),
    warnOnce(key, m) {
      if (seen.has(key)) return;
      seen.add(key);
      if (seen.size > WARN_ONCE_KEYS) seen.delete(seen.values().next().value as string);
      emit("warn", m);
    },
    enabled: (level) => ORDER[level] <= threshold,
  };
}

/**
 * Writes a log line to stderr. A reader of stderr that went away (EPIPE, a
 * dead `| logger`) or a closed stderr (EBADF) must never end the program:
 * such errors are swallowed, and lines are dropped until stderr works again.
 */
export function writeStderr(line: string): void {
  try {
    process.stderr.write(line + "\n");
  } catch {
    // stderr is gone: the line is lost, the program goes on
  }
}

/** Maps a -v count to a level: 0 warn, 1 info, 2+ debug. */
export function levelFromVerbosity(count: number): LogLevel {
  return count >= 2 ? "debug" : count === 1 ? "info" : "warn";
}

/** A logger that drops everything (tests, library defaults). */
export const silentLogger: Logger = createLogger({ level: "error", write: () => {} });

/**
 * At most one word every `everyMs` (a minute by default): a reminder while a
 * fault goes on, not a line per step or per send. One of these per thing
 * that may fail, asked before each word.
 */
export class LogEvery {
  private lastMs = -Infinity;

  constructor(
    readonly everyMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a word may be said now; if so, it counts as said. */
  due(): boolean {
    if (!this.ready()) return false;
    this.said();
    return true;
  }

  /** Whether a word may be said now (nothing counted). */
  ready(): boolean {
    return this.now() - this.lastMs >= this.everyMs;
  }

  /** A word was said now (one that did not wait: the first of a fault). */
  said(): void {
    this.lastMs = this.now();
  }
}
