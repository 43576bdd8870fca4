import { realpathSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

/** Undoes the octal escapes of /proc/self/mountinfo (`\040` is a space). */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export interface MountEntry {
  /** `major:minor` of the filesystem: bind mounts of one filesystem share it. */
  device: string;
  mountPoint: string;
  fsType: string;
  source: string;
  options: string;
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const dash = line.indexOf(" - ");
    if (dash < 0) continue;
    const a = line.slice(0, dash).split(" ");
    const b = line.slice(dash + 3).split(" ");
    if (a.length < 6 || b.length < 3) continue;
    out.push({
      device: a[2] as string,
      mountPoint: unescapeMountField(a[4] as string),
      fsType: b[0] as string,
      source: unescapeMountField(b[1] as string),
      options: b[2] as string,
    });
  }
  return out;
}

/**
 * A path with its existing part resolved (symbolic links followed, as the
 * kernel does), the rest appended: /var/lib/libvirt/scaphandre/vm where
 * /var/lib/libvirt links to /data/libvirt is /data/libvirt/scaphandre/vm,
 * as /proc/self/mountinfo and systemd's mount units name it.
 */
export function resolvedPath(path: string): string {
  let head = resolve(path);
  const tail: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...tail);
    } catch {
      const parent = dirname(head);
      if (parent === head) return resolve(path);
      tail.unshift(basename(head));
      head = parent;
    }
  }
}

/** The mount at exactly `dir` (the last one, if stacked), or null; `procRoot` is --procfs-path. `dir` is compared resolved, as mountinfo has it. */
export async function mountAt(dir: string, procRoot = "/proc"): Promise<MountEntry | null> {
  const entries = parseMountinfo(await readFile(`${procRoot}/self/mountinfo`, "utf8"));
  const want = resolvedPath(dir);
  return entries.filter((e) => e.mountPoint === want).pop() ?? null;
}
