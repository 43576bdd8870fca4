/**
 * scaph-host runs with the same node flags and malloc arena however it is
 * started: from the repository's bin, the .deb's /usr/bin/scaph-host, the
 * container image. docs/benchmarks.md measured them; a place that forgot
 * them would run a daemon ~10 MB larger.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/cli.js";

const read = (p: string): string => readFileSync(join(repoRoot, p), "utf8");
const flagsOf = (words: string): string[] => words.split(/[\s,"]+/).filter((w) => w.startsWith("--"));

test("the bins' shebang, the .deb's wrapper and the image's entry point give node the same flags and malloc settings", () => {
  const shebang = read("host/bin/scaph-host.js").split("\n")[0] as string;
  const m = /^#!\/usr\/bin\/env -S MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072 node (.+)$/.exec(shebang);
  assert.ok(m, `shebang: ${shebang}`);
  const flags = flagsOf(m[1] as string);
  assert.ok(flags.includes("--max-semi-space-size=1") && flags.some((f) => f.startsWith("--heap-growing-percent=")), flags.join(" "));
  assert.equal(read("host/bin/scaphandre.js").split("\n")[0], shebang);

  const wrapper =
    /content: `#!\/bin\/sh\\nexport MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072\\nexec \/usr\/lib\/scaph-host\/node ([^/]+)\/usr\/lib\/scaph-host\/main\.js/.exec(
      read("deploy/packaging/package.mjs"),
    );
  assert.ok(wrapper, "/usr/bin/scaph-host of the .deb");
  assert.deepEqual(flagsOf(wrapper[1] as string), flags);

  const docker = read("deploy/docker/Dockerfile");
  assert.match(docker, /^ENV MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072$/m);
  const entry = /^ENTRYPOINT \["\/usr\/lib\/scaph-host\/node", (.*), "\/usr\/lib\/scaph-host\/main\.js"\]$/m.exec(docker);
  assert.ok(entry, "the image's ENTRYPOINT");
  assert.deepEqual(flagsOf(entry[1] as string), flags);
});
