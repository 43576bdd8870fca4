/**
 * npm's own way: the packed workspaces installed globally (into a prefix of
 * our own) give working commands, with one commander between them (two
 * copies once turned --help into "internal error: CommanderError").
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../helpers/cli.js";
import { scaphVersion, testSupportIn } from "../helpers/packages.js";

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "scaph-npm-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a command; resolves with its exit code and output, never rejects. */
async function run(cmd: string, args: readonly string[], cwd = dir): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(cmd, [...args], { cwd, encoding: "utf8", maxBuffer: 16 * 1024 * 1024, timeout: 180_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

test("npm pack --workspaces, then npm install -g of the tarballs: --help and --version exit 0", async () => {
  const pack = await run("npm", ["pack", ...["common", "libvirt", "host", "guest"].flatMap((w) => ["-w", w]), "--pack-destination", dir], repoRoot);
  assert.equal(pack.code, 0, pack.stderr);
  const tarballs = readdirSync(dir)
    .filter((f) => f.endsWith(".tgz"))
    .map((f) => join(dir, f));
  assert.equal(tarballs.length, 4, `four packages: ${tarballs.join(", ")}`);
  // no test support in what npm installs
  for (const t of tarballs) {
    const x = join(dir, "unpacked", t.split("/").pop() ?? "");
    mkdirSync(x, { recursive: true });
    assert.equal((await run("tar", ["-xzf", t, "-C", x])).code, 0);
    assert.deepEqual(testSupportIn(x), [], `test support in ${t}`);
  }
  const prefix = join(dir, "prefix");
  const install = await run("npm", ["install", "-g", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", ...tarballs]);
  assert.equal(install.code, 0, install.stderr);
  for (const bin of ["scaph-host", "scaph-guest"]) {
    const v = await run(join(prefix, "bin", bin), ["--version"]);
    assert.equal(v.code, 0, `${bin} --version: ${v.stderr}`);
    assert.equal(v.stdout.trim(), scaphVersion);
    const h = await run(join(prefix, "bin", bin), ["--help"]);
    assert.equal(h.code, 0, `${bin} --help: ${h.stderr}`);
    assert.match(h.stdout, new RegExp(`Usage: ${bin}`));
    assert.equal(h.stderr, "");
    const bad = await run(join(prefix, "bin", bin), ["--no-such-flag"]);
    assert.equal(bad.code, 1, "a bad flag: commander's message, exit 1");
    assert.match(bad.stderr, /unknown option/);
  }
  // Scaphandre's command: scaph-host, or scaph-guest with --vm (both installed here), as its units call it
  const sh = await run(join(prefix, "bin", "scaphandre"), ["prometheus", "--help"]);
  assert.equal(sh.code, 0, sh.stderr);
  assert.match(sh.stdout, /Usage: scaph-host prometheus/);
  const sg = await run(join(prefix, "bin", "scaphandre"), ["--vm", "prometheus", "--help"]);
  assert.equal(sg.code, 0, sg.stderr);
  assert.match(sg.stdout, /Usage: scaph-guest prometheus/);
  const copies = readdirSync(join(prefix, "lib", "node_modules"), { recursive: true, encoding: "utf8" }).filter((p) =>
    /(^|\/)node_modules\/commander$|^commander$/.test(p),
  );
  assert.equal(copies.length, 1, `one commander: ${copies.join(", ")}`);
});
