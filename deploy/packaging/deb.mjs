// A Debian package from a file list, with dpkg-deb (no debhelper: the maintainer scripts are ours, short,
// and do what debhelper's systemd snippets do).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";

/**
 * @typedef {{ dest: string, src?: string, content?: string | Buffer, mode?: number, gzip?: boolean }} DebFile
 *   dest: absolute path on the target; src: a file or directory to copy; content: the bytes; gzip: compress (man pages)
 * @typedef {{ name: string, version: string, arch: string, depends?: string[], recommends?: string[], suggests?: string[],
 *   section: string, summary: string, description: string, files: DebFile[], conffiles?: string[],
 *   scripts?: Partial<Record<"preinst" | "postinst" | "prerm" | "postrm", string>> }} DebSpec
 */

const MAINTAINER = "scaph developers <scaph@localhost>";

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Builds `<outDir>/<name>_<version>_<arch>.deb` from `spec`; returns its path. */
export function buildDeb(spec, outDir) {
  const stage = mkdtempSync(join(tmpdir(), `deb-${spec.name}-`));
  chmodSync(stage, 0o755); // the archive's ./ entry: mkdtemp's 0700 is no mode for /
  try {
    for (const f of spec.files) {
      const to = join(stage, f.dest);
      mkdirSync(dirname(to), { recursive: true });
      if (f.src !== undefined) {
        cpSync(f.src, to, { recursive: true, dereference: true });
      } else {
        const bytes = typeof f.content === "string" ? Buffer.from(f.content) : f.content;
        writeFileSync(to, f.gzip ? gzipSync(bytes, { level: 9 }) : bytes);
      }
      if (f.mode !== undefined) chmodSync(to, f.mode);
    }
    const payload = walk(stage);
    const installedKb = Math.ceil(payload.reduce((n, p) => n + statSync(p).size, 0) / 1024);
    const md5sums = payload.map((p) => `${createHash("md5").update(readFileSync(p)).digest("hex")}  ${relative(stage, p)}`).join("\n") + "\n";
    const debian = join(stage, "DEBIAN");
    mkdirSync(debian);
    const field = (k, v) => (v && v.length ? [`${k}: ${Array.isArray(v) ? v.join(", ") : v}`] : []);
    const control = [
      `Package: ${spec.name}`,
      `Version: ${spec.version}`,
      `Architecture: ${spec.arch}`,
      `Maintainer: ${MAINTAINER}`,
      `Installed-Size: ${installedKb}`,
      ...field("Depends", spec.depends),
      ...field("Recommends", spec.recommends),
      ...field("Suggests", spec.suggests),
      `Section: ${spec.section}`,
      "Priority: optional",
      `Description: ${spec.summary}`,
      ...spec.description.trim().split("\n").map((l) => (l.trim() === "" ? " ." : ` ${l}`)),
    ].join("\n");
    writeFileSync(join(debian, "control"), control + "\n");
    writeFileSync(join(debian, "md5sums"), md5sums);
    if (spec.conffiles?.length) writeFileSync(join(debian, "conffiles"), spec.conffiles.join("\n") + "\n");
    for (const [name, body] of Object.entries(spec.scripts ?? {})) {
      writeFileSync(join(debian, name), body);
      chmodSync(join(debian, name), 0o755);
    }
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `${spec.name}_${spec.version}_${spec.arch}.deb`);
    execFileSync("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", stage, out], { stdio: ["ignore", "ignore", "inherit"] });
    return out;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
