import { discoverZones, errorMessage, guestMountCommand, mountAt, NoPowercapError, ScaphError, silentLogger } from "@scaph/common";
import type { Logger } from "@scaph/common";
import { dirname } from "node:path";

/** Why the tree at `root` cannot be read yet, or null when it can. */
export async function treeProblem(root: string): Promise<string | null> {
  try {
    discoverZones(root, silentLogger);
    return null;
  } catch (err) {
    if (err instanceof NoPowercapError) return err.reason;
    throw err;
  }
}

/**
 * What is wrong with the tree at `root` and what to do: a share mounted but
 * empty is the host's daemon missing, not a mount to make.
 */
export async function notMountedMessage(root: string, problem: string, procRoot = "/proc"): Promise<string> {
  const m = await mountAt(root, procRoot).catch(() => null);
  if (m) {
    return (
      `The powercap tree at ${root} is empty, though ${root} is mounted (${m.fsType}): the host's share is there, no tree in it yet.\n` +
      `  On the host, is scaph-host qemu running? (scaph-host status shows each VM's tree and its age;\n` +
      `  systemctl status scaph-host-qemu)`
    );
  }
  return (
    `The powercap tree at ${root} is ${problem}: the host's share is not mounted yet.\n` +
    `  Mount it (as root): ${guestMountCommand("virtiofs", root)}\n` +
    `  or over 9p:         ${guestMountCommand("9p", root)}\n` +
    `  or:                 scaph-guest mount --path ${root}\n` +
    `  On the host, the VM needs "scaph-host setup <domain>" and "scaph-host qemu" running.`
  );
}

/**
 * Resolves once the tree at `root` can be read. Says what to do, then waits:
 * chokidar sees the tree written into an existing directory; a mount over the
 * directory makes no inotify event, so it is also re-checked every `pollMs`.
 */
export async function waitForTree(
  root: string,
  log: Logger,
  options: { wait: boolean; pollMs?: number; signal?: AbortSignal; ready?: () => boolean; procRoot?: string; timeoutS?: number },
): Promise<void> {
  const first = await treeProblem(root);
  if (first === null || options.ready?.()) return;
  const msg = await notMountedMessage(root, first, options.procRoot);
  if (!options.wait) throw new ScaphError(msg);
  log.warn(`${msg}\n  Waiting for it to appear (--no-wait exits at once)...`);
  const { watch } = await import("chokidar"); // loaded only while waiting
  await new Promise<void>((resolve, reject) => {
    // (a directory this user may not read near the tree, as /var has (/var/cache/ldconfig, /var/lib/private):
    // not watched, and said once; the tree is checked every pollMs anyway)
    const watcher = watch([root, dirname(root)], { depth: 2, ignoreInitial: true, ignorePermissionErrors: true });
    let watchError = false;
    watcher.on("error", (err) => {
      if (watchError) return;
      watchError = true;
      log.warn(`cannot watch around ${root} (${errorMessage(err)}): looking again every ${(options.pollMs ?? 2000) / 1000} s`);
    });
    let done = false;
    const check = async (): Promise<void> => {
      if (done) return;
      try {
        if (((await treeProblem(root)) === null || options.ready?.()) && !done) finish();
      } catch (err) {
        done = true;
        cleanup();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const timer = setInterval(() => void check(), options.pollMs ?? 2000);
    // -t bounds the whole run, the wait included: a guest command never waits past it
    const deadline =
      options.timeoutS !== undefined
        ? setTimeout(() => {
            done = true;
            cleanup();
            reject(new ScaphError(`${msg}\n  Gave up waiting after ${options.timeoutS} s (-t).`));
          }, options.timeoutS * 1000)
        : undefined;
    const cleanup = (): void => {
      clearInterval(timer);
      clearTimeout(deadline);
      void watcher.close();
    };
    const finish = (): void => {
      done = true;
      cleanup();
      log.warn(`powercap tree at ${root} is there: starting`);
      resolve();
    };
    watcher.on("all", () => void check());
    options.signal?.addEventListener("abort", () => {
      done = true;
      cleanup();
      reject(new ScaphError("interrupted while waiting for the powercap tree", { exitCode: 130 }));
    });
  });
}
