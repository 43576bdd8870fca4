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

/** No RAPL zones where a powercap tree was looked for: why, for the callers that act on it (a guest waits). */
export class NoPowercapError extends ScaphError {
  constructor(
    readonly root: string,
    /** `absent`: no such directory; `empty`: a directory with no zone (or none readable). */
    readonly reason: "absent" | "empty",
    detail: string,
  ) {
    super(
      `No RAPL powercap zones found under ${root} (${detail}).\n` +
        `  - On an Intel or AMD host, load the driver: modprobe intel_rapl_common (and intel_rapl_msr)\n` +
        `  - If the tree lives elsewhere, pass --powercap-path DIR\n` +
        `  - On a machine without RAPL, use the estimation sensor: --sensor estimate\n` +
        `  - Inside a virtual machine, use scaph-guest, which reads the tree the host shares (SCAPHANDRE_POWERCAP_PATH)`,
    );
    this.name = "NoPowercapError";
  }
}

/** /proc cannot be listed or read where --procfs-path says. */
export class ProcfsError extends ScaphError {
  constructor(
    readonly path: string,
    readonly reason: "unlistable" | "unreadable",
    cause: unknown,
  ) {
    super(`Cannot ${reason === "unlistable" ? "list" : "read"} ${path} (is --procfs-path right?): ${errnoCode(cause) ?? errorMessage(cause)}`, { cause });
    this.name = "ProcfsError";
  }
}

/** The errno code of a Node.js system error, if any. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = err.code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
