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
