import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./cli.js";

/** scaph's version (the root package.json's): what the packages are named after and --version says. */
export const scaphVersion = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;

export type PackagePart = "host-deb" | "guest-deb" | "guest-bundle" | "guest-sea";

/** Builds parts of `npm run package` into `outDir` (deploy/packaging/package.mjs --only), as an operator's build would. */
export function buildPackages(parts: readonly PackagePart[], outDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(repoRoot, "deploy/packaging/package.mjs"), "--out", outDir, "--only", parts.join(",")],
      { maxBuffer: 16 * 1024 * 1024, timeout: 240_000 },
      (err, _stdout, stderr) => (err ? reject(new Error(`npm run package (--only ${parts.join(",")}) failed: ${stderr || err.message}`)) : resolve()),
    );
  });
}

/** Files whose content makes the packages: the compiled code, the packaging scripts, the units, the docs, the lock file. */
function packageInputs(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  for (const d of ["common/dist/src", "libvirt/dist/src", "host/dist/src", "guest/dist/src", "deploy/packaging", "systemd", "docs"]) walk(join(repoRoot, d));
  out.push(join(repoRoot, "package.json"), join(repoRoot, "package-lock.json"), join(repoRoot, "README.md"));
  return out.sort();
}

/**
 * The .deb packages of this checkout, built once for all the test files
 * that install them (each build compresses two 100 MB executables): in a
 * cache keyed by everything they are made of, which holds the newest build
 * only. Returns the directory that holds them.
 */
export async function cachedDebs(): Promise<string> {
  const h = createHash("sha256");
  for (const f of packageInputs()) h.update(f).update(readFileSync(f));
  h.update(process.execPath).update(process.version);
  const key = h.digest("hex").slice(0, 16);
  const root = "/var/tmp/scaph-test-debs";
  const dir = join(root, key);
  const debs = ["scaph-host", "scaph-guest"].map((p) => join(dir, `${p}_${scaphVersion}_amd64.deb`));
  if (debs.every((d) => existsSync(d))) return dir;
  mkdirSync(root, { recursive: true });
  for (const old of readdirSync(root)) if (old !== key) rmSync(join(root, old), { recursive: true, force: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  await buildPackages(["host-deb", "guest-deb"], tmp);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

/**
 * Names that only the test support (test-support/, @scaph/test-support)
 * defines: none may be in a file that ships (a .deb's payload, the single
 * file, the npm tarballs), minified or not.
 */
export const TEST_SUPPORT_MARKERS = [
  "@scaph/test-support",
  "test-support/dist",
  "test-support/src",
  "startRiemannServer",
  "PowerSimulator",
  "copyFixture",
  "fixturesDir",
  "promtoolLint",
] as const;

/** `file: marker` for each marker of the test support found in the files under `root` (every file, binaries too). */
export function testSupportIn(root: string): string[] {
  const hits: string[] = [];
  const files = statSync(root).isDirectory()
    ? readdirSync(root, { recursive: true, encoding: "utf8" })
        .map((f) => join(root, f))
        .filter((f) => lstatSync(f).isFile())
    : [root];
  for (const f of files) {
    const data = readFileSync(f);
    for (const m of TEST_SUPPORT_MARKERS) if (data.includes(m)) hits.push(`${f}: ${m}`);
  }
  return hits;
}
