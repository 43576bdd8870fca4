/**
 * docs/architecture.md's claims that a grep can check, checked: every source
 * file that reads /proc is named in its list of /proc's readers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot } from "../helpers/cli.js";

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

test("every source file that reads /proc is named in docs/architecture.md", () => {
  const doc = readFileSync(join(repoRoot, "docs/architecture.md"), "utf8");
  // a /proc path in code (a string or template that starts one), or a procfs root joined to a path
  const readsProc = /["'`]\/proc[/"'`]|\$\{[^}]*procRoot\}\/|procRoot, "|join\(this\.procRoot|"\/proc\/self/;
  // code only (comments dropped), and not /proc/self/fd/N: a descriptor of this process's own, not /proc read
  const code = (f: string): string =>
    readFileSync(f, "utf8")
      .split("\n")
      .filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l))
      .join("\n")
      .replaceAll(/\/proc\/self\/fd\//g, "");
  const readers = ["common", "host", "guest"].flatMap((p) => sources(join(repoRoot, p, "src"))).filter((f) => readsProc.test(code(f)));
  assert.ok(readers.length >= 8, readers.join("\n"));
  const unnamed = readers.map((f) => relative(repoRoot, f)).filter((f) => !doc.includes(`\`${f}\``) && !doc.includes(`${f.split("/").pop()}\``));
  assert.deepEqual(unnamed, [], "read /proc but are not in docs/architecture.md's list of /proc's readers");
});
