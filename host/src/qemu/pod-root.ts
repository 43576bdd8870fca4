import { closeSync, constants, fstatSync, openSync, readlinkSync } from "node:fs";
import { errorMessage } from "@scaph/common";

/** open(2)'s O_PATH on Linux (not in Node's fs.constants): a descriptor that only names a file. */
export const O_PATH = 0o10000000;
/** Symbolic links resolved in one walk, at most (the kernel's own limit, MAXSYMLINKS). */
const MAX_LINKS = 40;
/** Path components walked in one call, at most, links' components included. */
const MAX_COMPONENTS = 256;

/** What the file at the end of the walk must be. */
export type InRootKind = "socket" | "directory";

/** A file found inside a root: its O_PATH descriptor (the caller closes it), and the path that reaches it through this process's fd table. */
export interface InRoot {
  fd: number;
  /** `/proc/self/fd/N`: connect(2) or open(2) through it reaches that very file, whatever was swapped in since. */
  viaFd: string;
}

const pathOf = (fd: number): string => `/proc/self/fd/${fd}`;

/**
 * Opens `path` as if `root` were `/` (openat2's RESOLVE_IN_ROOT, which Node
 * has not): for a KubeVirt pod's filesystem, reached from the node as
 * /proc/<pid>/root, which the pod's tenant owns. Each component is opened
 * with O_PATH|O_NOFOLLOW relative to the descriptor of the one before, so the
 * kernel follows no link of the tenant's. A symbolic link is read and
 * resolved here, inside the root: an absolute target starts again at the
 * root, `..` climbs the walk's own stack of descriptors and stops at the root
 * (as `..` of `/` does). Nothing reached can be outside the root, whatever
 * the tenant links or swaps meanwhile: a swap makes the walk fail or land
 * elsewhere inside, never outside. Every directory on the way must be a
 * directory, the last file must be `kind`. Returns the file, or why not.
 */
export function openInRoot(root: string, path: string, kind: InRootKind): InRoot | string {
  let rootFd: number;
  try {
    rootFd = openSync(root, O_PATH | constants.O_DIRECTORY);
  } catch (err) {
    return `${root}: ${errorMessage(err)}`;
  }
  const stack: number[] = [rootFd]; // the descriptors of the directories walked, the root first
  const pending = components(path);
  let links = 0;
  let walked = 0;
  const release = (keep?: number): void => {
    for (const fd of stack) if (fd !== keep) closeSync(fd);
  };
  try {
    while (pending.length > 0) {
      if (++walked > MAX_COMPONENTS) return `${path}: too many path components`;
      const name = pending.shift()!;
      if (name === ".") continue;
      if (name === "..") {
        if (stack.length > 1) closeSync(stack.pop()!);
        continue;
      }
      const dir = stack[stack.length - 1]!;
      let fd: number;
      try {
        fd = openSync(`${pathOf(dir)}/${name}`, O_PATH | constants.O_NOFOLLOW);
      } catch (err) {
        return `${path}: ${errorMessage(err)}`;
      }
      const st = fstatSync(fd);
      if (st.isSymbolicLink()) {
        // its target, read through the directory we hold (readlink follows no link at the last component)
        let target: string;
        try {
          target = readlinkSync(`${pathOf(dir)}/${name}`);
        } catch (err) {
          closeSync(fd);
          return `${path}: ${errorMessage(err)}`;
        }
        closeSync(fd);
        if (++links > MAX_LINKS) return `${path}: too many symbolic links`;
        if (target.startsWith("/")) while (stack.length > 1) closeSync(stack.pop()!);
        pending.unshift(...components(target));
        continue;
      }
      const last = pending.length === 0;
      if (!last || kind === "directory") {
        if (!st.isDirectory()) {
          closeSync(fd);
          return `${path}: ${name} is not a directory`;
        }
      } else if (!st.isSocket()) {
        closeSync(fd);
        return `${path}: not a socket`;
      }
      stack.push(fd);
    }
    const end = stack[stack.length - 1]!;
    if (stack.length === 1 && kind === "socket") return `${path}: not a socket`;
    release(end);
    stack.length = 0;
    return { fd: end, viaFd: pathOf(end) };
  } finally {
    release();
  }
}

/** A path's components, empty ones dropped (`a//b/` is a, b). */
function components(path: string): string[] {
  return path.split("/").filter((c) => c !== "");
}
