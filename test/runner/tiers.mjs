// The two tiers of tests, and which one a file belongs to.
//
// - fast (`npm test`): every file named *.test.ts. It needs no root, no
//   system package and no service of the machine: units, fixture trees and
//   goldens, the exporters against peers started by the test itself, the
//   CLI on fixture trees. It runs unprivileged (as root, the runner drops
//   to nobody first).
// - system (`npm run test:system`): every file named *.system.test.ts. It
//   needs root or a real component (libvirtd, qemu, Prometheus, dockerd,
//   systemd-nspawn, the labs), which test/prepare.mjs installs first.
//
// A file's name alone decides its tier, so every file is in exactly one.
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";

export const TIERS = ["fast", "system"];

/** Where the compiled test files are, under the repository root. */
export const TEST_DIRS = ["common/dist/test", "libvirt/dist/test", "host/dist/test", "guest/dist/test", "test/dist"];

/** The tier of a compiled test file (x.system.test.js is the system tier's). */
export const tierOf = (file) => (file.endsWith(".system.test.js") ? "system" : "fast");

/** A lab file: a real-VM lab (test/dist/lab/), part of the system tier. */
export const isLab = (file) => file.startsWith("test/dist/lab/");

/** The TypeScript source of a compiled test file: <pkg>/dist/test/x.test.js <- <pkg>/test/x.test.ts, test/dist/x <- test/x. */
export function sourceOf(file) {
  const ts = file.replace(/\.js$/, ".ts");
  return ts.startsWith("test/dist/") ? ts.replace("test/dist/", "test/") : ts.replace("/dist/test/", "/test/");
}

/**
 * The compiled test files under `dirs` (relative to `root`), sorted, whose
 * source still exists (tsc -b leaves the output of a deleted test behind).
 * A directory given with `sources: false` holds plain .test.js files.
 */
export function listTestFiles(root, dirs = TEST_DIRS, { sources = true } = {}) {
  const files = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".test.js")) files.push(relative(root, p));
    }
  };
  for (const d of dirs) if (existsSync(join(root, d))) walk(join(root, d));
  return files.filter((f) => !sources || existsSync(join(root, sourceOf(f)))).sort();
}
