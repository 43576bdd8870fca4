/**
 * An error meant for the user: its message says what is wrong and how to fix
 * it; the CLI prints it without a stack trace and exits with `exitCode`.
 */
export class ScaphError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ScaphError";
    this.exitCode = options.exitCode ?? 1;
  }
}

/** The errno code of a Node.js system error, if any. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
