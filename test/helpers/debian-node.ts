import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

function sh(cmd: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", cwd, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed: ${(e.stderr ?? "").trim() || e.message}`);
  }
}

/** The newest version apt knows of `pkg` starting with `prefix` (e.g. nodejs 18.), or null. */
function versionOf(pkg: string, prefix: string): string | null {
  const rows = sh("apt-cache", ["madison", pkg])
    .split("\n")
    .map((l) => l.split("|").map((x) => x.trim()));
  return rows.find((r) => r[1]?.startsWith(prefix))?.[1] ?? null;
}

export interface DebianNode {
  /** The node binary. */
  node: string;
  /** Its libnode and c-ares. */
  libraryPath: string;
  /**
   * The command that runs `argv` where this node works: Debian's node loads parts of itself from
   * /usr/share/nodejs, so a private mount namespace lays the extracted packages' /usr/share over it.
   */
  wrap(argv: readonly string[]): string[];
}

/**
 * Debian 12's own Node 18 (nodejs, libnode108, and what they load that this
 * machine may lack), taken out of its packages into `cacheDir` without
 * installing them (this machine's Node stays). Needs root (apt-get download,
 * and the mount namespace it runs in).
 */
export function debianNode18(cacheDir: string): DebianNode {
  const root = join(cacheDir, "node18");
  const node = join(root, "usr/bin/node");
  const libraryPath = join(root, "usr/lib/x86_64-linux-gnu");
  const found: DebianNode = {
    node,
    libraryPath,
    wrap: (argv) => [
      "/usr/bin/unshare",
      "-m",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      '/bin/mount -t overlay scaph-node18 -o "lowerdir=$0/usr/share:/usr/share" /usr/share && exec "$@"',
      root,
      ...argv,
    ],
  };
  if (existsSync(join(root, "usr/share/nodejs/cjs-module-lexer")) && existsSync(node)) return found;
  let nodeVersion = versionOf("nodejs", "18.");
  if (!nodeVersion) {
    sh("apt-get", ["update", "-qq"]);
    nodeVersion = versionOf("nodejs", "18.");
  }
  if (!nodeVersion) throw new Error("apt knows no nodejs 18 (Debian 12 bookworm's): check /etc/apt/sources.list");
  const debs = join(cacheDir, "node18-debs");
  mkdirSync(debs, { recursive: true });
  const wanted = [`nodejs=${nodeVersion}`, `libnode108=${nodeVersion}`, "libc-ares2", "node-acorn", "node-cjs-module-lexer", "node-undici", "node-busboy"];
  sh("apt-get", ["download", ...wanted], debs);
  mkdirSync(root, { recursive: true });
  for (const deb of readdirSync(debs).filter((f) => f.endsWith(".deb"))) sh("dpkg-deb", ["-x", join(debs, deb), root]);
  if (!existsSync(node)) throw new Error(`Debian's nodejs ${nodeVersion} has no usr/bin/node`);
  return found;
}
