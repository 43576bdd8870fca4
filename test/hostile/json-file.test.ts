/**
 * `json -f` writes a regular file or refuses (hostile inputs, round 3,
 * item 1): a directory, a device, a FIFO or a symbolic link at the path is
 * an error naming it, exit 1, and nothing is removed or replaced (as root,
 * `-f DIR` used to delete DIR and all it held); a path in a directory that
 * does not exist is exit 1 at start, not an error a step.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, removeTree } from "@scaph/test-support";
import { hostBin, runNode } from "../helpers/cli.js";

test("json -f on a directory, a device, a FIFO or a symlink: exit 1 naming the path, nothing removed; in a missing directory: exit 1 at start", async () => {
  const powercap = await copyFixture("powercap/intel-1socket");
  const dir = mkdtempSync(join(tmpdir(), "scaph-json-f-"));
  try {
    const json = (file: string) => runNode(hostBin, ["json", "-f", file, "-t", "1", "-s", "0.5", "--powercap-path", powercap]);
    const precious = join(dir, "precious");
    mkdirSync(precious);
    writeFileSync(join(precious, "a"), "the operator's data\n");
    writeFileSync(join(precious, "b"), "more of it\n");
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    const elsewhere = join(dir, "elsewhere.json");
    writeFileSync(elsewhere, "not scaph's\n");
    const link = join(dir, "link.json");
    symlinkSync(elsewhere, link);
    const linkToDir = join(dir, "link-dir");
    symlinkSync(precious, linkToDir);
    for (const [path, why] of [
      [precious, /is a directory: refusing to replace it/],
      ["/dev/full", /is not a regular file \(a device, a FIFO or a socket\)/],
      [fifo, /is not a regular file/],
      [link, /is a symbolic link: refusing to write through it/],
      [linkToDir, /is a symbolic link/],
      [join(dir, "missing", "x.json"), /missing does not exist/],
    ] as const) {
      const r = await json(path);
      assert.equal(r.code, 1, `${path}: ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.ok(r.stderr.includes(path), `names ${path}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
    assert.deepEqual(readdirSync(precious).sort(), ["a", "b"], "the directory and all it holds are there");
    assert.ok(lstatSync("/dev/full").isCharacterDevice(), "/dev/full is still a device");
    assert.ok(lstatSync(fifo).isFIFO());
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(elsewhere, "utf8"), "not scaph's\n", "the link's target untouched");
    // a regular file, or none yet: written, a complete array
    const ok = await json(join(dir, "out.json"));
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(Array.isArray(JSON.parse(readFileSync(join(dir, "out.json"), "utf8"))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await removeTree(powercap);
  }
});
