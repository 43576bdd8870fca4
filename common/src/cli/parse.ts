import { InvalidArgumentError } from "commander";

/** Commander argument parsers with clear messages. */
export function numberArg(what: string, min = -Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number, got "${value}".`);
    if (n < min) throw new InvalidArgumentError(`${what} must be >= ${min}, got ${n}.`);
    return n;
  };
}

export function intArg(what: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${what} must be an integer, got "${value}".`);
    if (n < min) throw new InvalidArgumentError(`${what} must be >= ${min}, got ${n}.`);
    if (n > max) throw new InvalidArgumentError(`${what} must be <= ${max}, got ${n}.`);
    return n;
  };
}

export function countVerbose(_value: string, previous: number): number {
  return previous + 1;
}

/** The shortest step a loop takes (s): below it, a step would be shorter than its own work. */
export const MIN_STEP_S = 0.001;
/** The longest time a timer holds (s): Node's timers hold 2^31 - 1 ms (24.8 days); longer is an error, not a warning. */
export const MAX_TIMER_S = Math.floor((2 ** 31 - 1) / 1000);

/**
 * A step (s): a number from MIN_STEP_S to MAX_TIMER_S. With `zeroOk`, 0 too:
 * json's `-s 0 --step-nano 500000000` (Scaphandre's way to ask for half a
 * second); its caller checks the sum with stepProblem.
 */
export function stepArg(what: string, zeroOk = false) {
  const parse = numberArg(what);
  return (value: string): number => {
    const n = parse(value);
    if (zeroOk && n === 0) return 0;
    const problem = stepProblem(n);
    if (problem !== null) throw new InvalidArgumentError(`${what} ${problem}, got ${value}.`);
    return n;
  };
}

/** Why a step (s) is refused, or null. */
export function stepProblem(stepS: number): string | null {
  return stepS >= MIN_STEP_S && stepS <= MAX_TIMER_S ? null : `must be from ${MIN_STEP_S} to ${MAX_TIMER_S} seconds`;
}

/** A timeout (s): 0 or less runs until stopped, else at most MAX_TIMER_S. */
export function timeoutArg(what: string) {
  const parse = numberArg(what);
  return (value: string): number => {
    const n = parse(value);
    if (n > MAX_TIMER_S) throw new InvalidArgumentError(`${what} must be at most ${MAX_TIMER_S} seconds (0 runs until stopped), got ${value}.`);
    return n;
  };
}

/**
 * A host to connect to: a DNS name (letters, digits, dots, hyphens, 253
 * characters at most), an IPv4 address, or an IPv6 address (with or without
 * brackets). Nothing else: a space, a slash or a port in it would make
 * another URL than the one meant.
 */
export function hostArg(what: string) {
  return (value: string): string => {
    const v = value.trim();
    const bare = v.startsWith("[") && v.endsWith("]") ? v.slice(1, -1) : v;
    const ipv6 = /^[0-9A-Fa-f:.]+(%[\w.-]+)?$/.test(bare) && bare.includes(":") && isIPv6Like(bare);
    const name = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/.test(v);
    if (!ipv6 && !name) throw new InvalidArgumentError(`${what} must be a host name or an IP address, got "${value}".`);
    return ipv6 ? bare : v;
  };
}

function isIPv6Like(s: string): boolean {
  try {
    return new URL(`http://[${s.replace(/%.*$/, "")}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

/** A regular expression given to an option: refused where it is the next option instead (`-r --vm`). */
export function regexArg(what: string) {
  return (value: string): string => {
    if (value.startsWith("--"))
      throw new InvalidArgumentError(`${what} wants a regular expression, got the option ${value} (to match it, write it as [-]-${value.slice(2)}).`);
    return value;
  };
}
