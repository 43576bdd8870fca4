/**
 * The size of mounted filesystems (statfs), asked of a child process with
 * a deadline. statfs can block for good: on a hard-mounted network share
 * whose server is gone, on a FUSE filesystem whose daemon does not answer,
 * on a dying disk. A thread of this process stuck there would hold it at
 * exit too (Node joins its threads), so the question goes to `stat -f`, a
 * process that can be left behind: past the deadline it is killed and not
 * waited for. Which path hangs is found by halving the batch that timed
 * out; a hung path is left out, and asked again alone (one child at a time)
 * every `retryMs`, until it answers.
 */
import { spawn } from "node:child_process";

/** What statfs says of one path, in bytes. */
export interface FsSize {
  totalBytes: number;
  availableBytes: number;
}

export interface StatfsOptions {
  /** How long one `stat -f` may take, in ms. */
  timeoutMs: number;
  /** How often a path that hung is asked again, alone, in ms. */
  retryMs: number;
  /** The command (coreutils' or busybox's stat). */
  command?: string;
  /** Said once per path that hangs, once when it answers again, once if stat cannot run. */
  warn?: (key: string, message: string) => void;
}

type Batch = { sizes: Map<string, FsSize>; timedOut: boolean; failed: string | null };

/**
 * Runs `stat -f` on `paths`: the sizes it printed, whether it ran past
 * the deadline (then killed, not waited for), or why it could not run.
 * A path stat cannot read is absent from the sizes (it says so on stderr).
 */
export function statBatch(command: string, paths: readonly string[], timeoutMs: number, onExit?: () => void): Promise<Batch> {
  return new Promise((resolve) => {
    const sizes = new Map<string, FsSize>();
    let out = "";
    let settled = false;
    const child = spawn(command, ["-f", "-c", "%S %b %a %n", "--", ...paths], { stdio: ["ignore", "pipe", "ignore"] });
    const finish = (r: Batch): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      // killed, and left: one stuck in the kernel dies when its call returns
      child.kill("SIGKILL");
      child.stdout?.destroy();
      child.unref();
      finish({ sizes, timedOut: true, failed: null });
    }, timeoutMs);
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => {
      if (out.length < 1024 * 1024) out += d;
    });
    child.on("error", (err) => finish({ sizes, timedOut: false, failed: err.message }));
    child.on("exit", () => onExit?.());
    child.on("close", () => {
      for (const line of out.split("\n")) {
        const m = /^(\d+) (\d+) (\d+) (.+)$/.exec(line);
        if (!m) continue;
        const bsize = Number(m[1]);
        sizes.set(m[4] as string, { totalBytes: Number(m[2]) * bsize, availableBytes: Number(m[3]) * bsize });
      }
      finish({ sizes, timedOut: false, failed: null });
    });
  });
}

/** Sizes of mounted filesystems, never blocking the caller past a deadline per batch; remembers which paths hang. */
export class StatfsProber {
  private readonly hung = new Map<string, { nextTryMs: number; childAlive: boolean }>();
  private readonly command: string;
  private unavailable: string | null = null;

  constructor(private readonly options: StatfsOptions) {
    this.command = options.command ?? "stat";
  }

  /** The paths that hung and have not answered since. */
  hungPaths(): string[] {
    return [...this.hung.keys()];
  }

  /** The sizes of `paths` that answered; a path that hangs is found, said once, and left out. */
  async sizes(paths: readonly string[], nowMs = Date.now()): Promise<Map<string, FsSize>> {
    const out = new Map<string, FsSize>();
    if (this.unavailable !== null) return out;
    const ask: string[] = [];
    const retry: string[] = [];
    for (const p of paths) {
      const h = this.hung.get(p);
      if (!h) ask.push(p);
      else if (!h.childAlive && nowMs >= h.nextTryMs) retry.push(p);
    }
    for (const p of this.hung.keys()) if (!paths.includes(p)) this.hung.delete(p); // unmounted
    if (ask.length > 0) await this.halve(ask, out, nowMs);
    for (const p of retry) await this.halve([p], out, nowMs);
    return out;
  }

  private async halve(paths: readonly string[], out: Map<string, FsSize>, nowMs: number): Promise<void> {
    const single = paths.length === 1 ? (paths[0] as string) : null;
    const wasHung = single !== null && this.hung.has(single);
    const r = await statBatch(this.command, paths, this.options.timeoutMs, single === null ? undefined : () => this.childGone(single));
    if (r.failed !== null) {
      this.unavailable = r.failed;
      this.options.warn?.("disks:stat", `disk metrics: cannot run ${this.command} -f (${r.failed}): no disk series (install coreutils)`);
      return;
    }
    for (const [p, s] of r.sizes) out.set(p, s);
    if (!r.timedOut) {
      if (wasHung && r.sizes.has(single)) {
        this.hung.delete(single);
        this.options.warn?.(`disks:back:${single}`, `disk metrics: statfs of ${single} answers again: back in the disk series`);
      }
      return;
    }
    if (single !== null) {
      const h = this.hung.get(single);
      if (h) Object.assign(h, { nextTryMs: nowMs + this.options.retryMs, childAlive: true });
      else {
        this.hung.set(single, { nextTryMs: nowMs + this.options.retryMs, childAlive: true });
        this.options.warn?.(
          `disks:hung:${single}`,
          `disk metrics: statfs of ${single} did not answer in ${this.options.timeoutMs} ms: left out of the disk series, asked again every ${Math.round(this.options.retryMs / 1000)} s`,
        );
      }
      return;
    }
    const mid = Math.ceil(paths.length / 2);
    await this.halve(paths.slice(0, mid), out, nowMs);
    await this.halve(paths.slice(mid), out, nowMs);
  }

  private childGone(path: string): void {
    const h = this.hung.get(path);
    if (h) h.childAlive = false;
  }
}
