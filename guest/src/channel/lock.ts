import { linkSync, lstatSync, unlinkSync } from "node:fs";
import { connect, createServer } from "node:net";
import type { Server } from "node:net";
import { join } from "node:path";
import { errnoCode, errorMessage } from "@scaph/common";

/**
 * The lock of a tree's one writer: a unix socket in the tree that its holder
 * listens on. A socket, not a pid file: its holder answers for as long as it
 * lives, and a holder killed with SIGKILL leaves a socket nobody listens on
 * (ECONNREFUSED), which the next receiver takes over. It is a file of the
 * tree's own filesystem, so receivers in other mount or network namespaces
 * (systemd's PrivateNetwork) see the same lock.
 */
export const TREE_LOCK_FILE = ".scaph-channel.lock";

/** A held lock: whether it is still this process's (another may have taken a lock it thought stale), and its release. */
export interface TreeLock {
  stillHeld(): boolean;
  release(): void;
}

/** Who holds the lock, as its holder says ("pid N"), or why this process cannot take it (`cannot`). */
export type LockRefusal = { busy: string } | { cannot: string };

/** Whether lockTree() took the lock. */
export const isHeld = (l: TreeLock | LockRefusal): l is TreeLock => "stillHeld" in l;

/** What a connection to the lock says: someone answers (with what), nobody listens, or there is no lock. */
function probe(path: string): Promise<{ live: string } | "stale" | "absent"> {
  return new Promise((resolve) => {
    const s = connect({ path });
    let said = "";
    const done = (r: { live: string } | "stale" | "absent"): void => {
      s.destroy();
      resolve(r);
    };
    s.setTimeout(1000, () => done({ live: said.trim() || "a holder that does not answer" }));
    s.on("data", (d: Buffer) => (said += d.toString("utf8").slice(0, 64)));
    s.on("end", () => done({ live: said.trim() || "a holder" }));
    s.on("error", (err) => {
      const code = errnoCode(err);
      if (code === "ECONNREFUSED") done("stale");
      else if (code === "ENOENT") done("absent");
      else done({ live: `a holder this process may not ask (${errorMessage(err)})` });
    });
  });
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Who holds the lock of `tree` now ("pid N"), or null if nobody does. */
export async function lockHolder(tree: string): Promise<string | null> {
  const p = await probe(join(tree, TREE_LOCK_FILE));
  return typeof p === "object" ? p.live : null;
}

/**
 * Takes the lock of `tree`, or says who holds it. The socket is bound under
 * a name of this process's, then hard-linked to the lock's name, which
 * fails if the lock exists: two receivers started together cannot both
 * take it. A stale lock (nobody listens) is removed first; a receiver that
 * removed a lock just taken by another finds out with stillHeld().
 */
export async function lockTree(tree: string): Promise<TreeLock | LockRefusal> {
  const path = join(tree, TREE_LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = await probe(path);
    if (typeof before === "object") return { busy: before.live };
    const mine = `${path}.${process.pid}`;
    unlinkQuiet(mine);
    const server: Server = createServer((c) => {
      c.on("error", () => {}); // an asker that went away: nothing to answer
      c.end(`pid ${process.pid}\n`);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(mine, () => resolve());
      });
    } catch (err) {
      return { cannot: `${mine}: ${errorMessage(err)}` };
    }
    server.unref(); // the lock alone does not keep the process running
    server.on("error", () => {}); // (after listen: nothing a holder must act on)
    if (before === "stale") unlinkQuiet(path);
    try {
      linkSync(mine, path);
    } catch (err) {
      server.close();
      unlinkQuiet(mine);
      if (errnoCode(err) === "EEXIST") continue; // taken meanwhile: ask who
      return { cannot: `${path}: ${errorMessage(err)}` };
    }
    unlinkQuiet(mine);
    const ino = lstatSync(path).ino;
    const stillHeld = (): boolean => {
      try {
        return lstatSync(path).ino === ino;
      } catch {
        return false;
      }
    };
    return {
      stillHeld,
      release() {
        if (stillHeld()) unlinkQuiet(path);
        server.close();
      },
    };
  }
  return { busy: "another receiver, which keeps taking it" };
}
