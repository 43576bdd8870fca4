import { mkdir } from "node:fs/promises";
import { CHANNEL_NAME, HOST_CLOCK_FILE, mountAt, ScaphError } from "@scaph/common";
import type { Logger } from "@scaph/common";
import { lockHolder, lockTree, TREE_LOCK_FILE } from "./lock.js";
import type { LockRefusal } from "./lock.js";
import { findPort } from "./port.js";
import { ChannelReceiver } from "./receiver.js";
import { CHANNEL_STATE_FILE } from "./state-file.js";
import { DEFAULT_GUEST_SUBSTEPS } from "./tree-writer.js";

/** The channel options of scaph-guest's commands. */
export interface ChannelFlags {
  /** The port's name (org.scaph.energy.0). */
  channelPort: string;
  /** The port's device, where it is not found by name (a test's FIFO). */
  channelDevice?: string;
  sysfsPath: string;
  devPath: string;
  procfsPath: string;
  /** Mount a tmpfs on the tree's directory when it is not a mount (as root). */
  tmpfs: boolean;
  /** Frames the tree moves in over the host time each line covers. */
  substeps?: number;
}

export const CHANNEL_DEFAULTS = { channelPort: CHANNEL_NAME, sysfsPath: "/sys", devPath: "/dev" };

/** Finds the port now (it may be hot-plugged later: call again). */
export function portFinder(options: ChannelFlags): () => string | null {
  return () => options.channelDevice ?? findPort(options.channelPort, { sysRoot: options.sysfsPath, devRoot: options.devPath });
}

/**
 * Prepares the tree's directory for the receiver: the guest's own tmpfs
 * (mounted if it is not a mount yet and we are root); never a tree the host
 * shares (virtiofs, 9p), which the receiver would overwrite.
 */
async function prepareTree(tree: string, options: ChannelFlags, log: Logger): Promise<void> {
  const m = await mountAt(tree, options.procfsPath).catch(() => null);
  if (m && (m.fsType === "virtiofs" || m.fsType === "9p")) {
    throw new ScaphError(`${tree} is the host's ${m.fsType} share: the channel receiver keeps its own tree; give it another --path, or unmount the share`);
  }
  if (m || !options.tmpfs) return;
  if (process.getuid?.() !== 0) {
    log.warn(`channel: ${tree} is not a tmpfs of its own and this is not root: the tree is written there as it is`);
    return;
  }
  const { readdir } = await import("node:fs/promises");
  await mkdir(tree, { recursive: true });
  // A tmpfs mounted over a directory hides what it holds from the whole VM, and outlives this process:
  // only over an empty directory, or one that holds nothing but a tree of ours.
  const foreign = (await readdir(tree)).filter((n) => ![CHANNEL_STATE_FILE, TREE_LOCK_FILE, HOST_CLOCK_FILE].includes(n) && !/^intel-rapl:\d+(:\d+)?$/.test(n));
  if (foreign.length > 0) {
    throw new ScaphError(
      `${tree} is not empty (${foreign
        .slice(0, 3)
        .map((n) => JSON.stringify(n))
        .join(", ")}${foreign.length > 3 ? ", ..." : ""}) and not a mount: ` +
        `a tmpfs there would hide it. Give the tree its own directory (--path, SCAPHANDRE_POWERCAP_PATH), or --no-tmpfs`,
    );
  }
  const { execa } = await import("execa");
  const r = await execa("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0755", "scaph-channel", tree], { reject: false });
  if (r.exitCode !== 0) throw new ScaphError(`mount -t tmpfs on ${tree} failed: ${r.stderr.trim()}`);
  log.info(`channel: mounted a tmpfs at ${tree} for the tree`);
}

/**
 * Starts a receiver in the background, keeping `tree`; resolves once it runs
 * (not once a line came), or with who holds the tree's lock: one receiver
 * per tree, whoever starts a second. It stops when `signal` aborts;
 * `keepAlive`: it alone keeps the process running (scaph-guest channel),
 * else it lives as long as the exporter beside it.
 */
export async function startReceiver(
  tree: string,
  options: ChannelFlags,
  log: Logger,
  signal: AbortSignal,
  keepAlive = false,
): Promise<ChannelReceiver | LockRefusal> {
  await mkdir(tree, { recursive: true });
  // Asked before anything is mounted: a tree another receiver keeps is never hidden under a tmpfs of ours.
  const holder = await lockHolder(tree);
  if (holder !== null) return { busy: holder };
  await prepareTree(tree, options, log);
  const lock = await lockTree(tree);
  if ("busy" in lock || "cannot" in lock) return lock;
  const r = new ChannelReceiver({ tree, port: portFinder(options), log, keepAlive, lock, substeps: options.substeps ?? DEFAULT_GUEST_SUBSTEPS });
  signal.addEventListener("abort", () => r.stop(), { once: true });
  void r.run();
  return r;
}

/** Resolves at the receiver's first line (or at once if it has one), rejects when `signal` aborts or after `timeoutS`. */
export function firstLine(r: ChannelReceiver, signal: AbortSignal, timeoutS?: number): Promise<void> {
  if (r.latest) return Promise.resolve();
  return new Promise((resolve, reject) => {
    // The receiver's own waits do not keep the process running (beside an exporter, the exporter's loop
    // does); until the exporter's loop starts, this wait must, or Node ends with nothing left to do.
    const alive = setInterval(() => {}, 60_000);
    const deadline =
      timeoutS !== undefined
        ? setTimeout(() => {
            done();
            reject(
              new ScaphError(`the channel's port is there but no line came from the host within ${timeoutS} s (-t): is scaph-host qemu running on the host?`),
            );
          }, timeoutS * 1000)
        : undefined;
    const done = (): void => {
      clearInterval(alive);
      clearTimeout(deadline);
      off();
    };
    const off = r.onApplied(() => {
      done();
      resolve();
    });
    signal.addEventListener("abort", () => {
      done();
      reject(new ScaphError("interrupted while waiting for the host's first line", { exitCode: 130 }));
    });
  });
}
