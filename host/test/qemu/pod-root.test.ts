/**
 * openInRoot on a pod filesystem a hostile tenant made: real directories,
 * links, a FIFO and unix sockets in a temporary directory standing for
 * /proc/<pid>/root. Whatever the links say, what is reached is inside the
 * root; a socket outside it is never reached.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { closeSync, fstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import type { Server } from "node:net";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openInRoot } from "../../src/qemu/pod-root.js";
import type { InRoot } from "../../src/qemu/pod-root.js";

/** Why a walk failed, or that it found the file. */
const why = (r: InRoot | string): string => (typeof r === "string" ? r : `found ${r.viaFd}`);

const base = mkdtempSync(join(tmpdir(), "scaph-podroot-"));
const servers: Server[] = [];
after(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  rmSync(base, { recursive: true, force: true });
});

/** A listening unix socket at `path`; the connections it got. */
async function listen(path: string): Promise<{ accepted: () => number }> {
  let n = 0;
  const s = createServer((c) => {
    n++;
    c.destroy();
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(path, r));
  return { accepted: () => n };
}

const root = join(base, "root");
const outside = join(base, "outside");
mkdirSync(join(root, "run", "libvirt"), { recursive: true });
mkdirSync(join(root, "tmp"));
mkdirSync(outside);
// the launcher image's /var/run -> ../run, as many distributions have it
mkdirSync(join(root, "var"));
symlinkSync("../run", join(root, "var", "run"));

test("a socket reached through the pod's own relative link; connect(2) through /proc/self/fd reaches it", async () => {
  const inside = await listen(join(root, "run", "libvirt", "virtqemud-sock"));
  const r = openInRoot(root, "/var/run/libvirt/virtqemud-sock", "socket");
  assert.equal(typeof r, "object", why(r));
  if (typeof r === "string") return;
  try {
    await new Promise<void>((resolve, reject) => createConnection({ path: r.viaFd }).once("connect", resolve).once("error", reject));
    await (async () => {
      for (let i = 0; i < 200 && inside.accepted() === 0; i++) await new Promise((x) => setImmediate(x));
    })();
    assert.equal(inside.accepted(), 1);
  } finally {
    closeSync(r.fd);
  }
});

test("links that point out of the root land inside it: absolute targets, .. past the root", async () => {
  const host = await listen(join(outside, "root-only.sock"));
  // an absolute link to the node's socket, by its real path: resolved inside the root, where nothing is
  symlinkSync(join(outside, "root-only.sock"), join(root, "run", "libvirt", "libvirt-sock"));
  const abs = openInRoot(root, "/var/run/libvirt/libvirt-sock", "socket");
  assert.equal(typeof abs, "string");
  assert.match(why(abs), /ENOENT/);
  // .. as many times as it takes to climb out: stops at the root, as .. of / does
  symlinkSync("../../../../../../../../..", join(root, "run", "up"));
  const up = openInRoot(root, "/run/up/tmp", "directory");
  assert.equal(typeof up, "object", why(up));
  if (typeof up === "object") {
    assert.equal(fstatSync(up.fd).ino, statSync(join(root, "tmp")).ino, "the root's own /tmp, not the node's");
    closeSync(up.fd);
  }
  const dotdot = openInRoot(root, "/../../../tmp", "directory");
  assert.equal(typeof dotdot, "object");
  if (typeof dotdot === "object") {
    assert.equal(fstatSync(dotdot.fd).ino, statSync(join(root, "tmp")).ino);
    closeSync(dotdot.fd);
  }
  assert.equal(host.accepted(), 0);
});

test("a loop of links, a FIFO or a file where the socket should be, a file where a directory should be: refused, said why", () => {
  symlinkSync("b", join(root, "tmp", "a"));
  symlinkSync("a", join(root, "tmp", "b"));
  assert.match(why(openInRoot(root, "/tmp/a", "socket")), /too many symbolic links/);
  execFileSync("mkfifo", [join(root, "tmp", "fifo")]);
  assert.match(why(openInRoot(root, "/tmp/fifo", "socket")), /not a socket/);
  writeFileSync(join(root, "tmp", "file"), "x");
  assert.match(why(openInRoot(root, "/tmp/file/sock", "socket")), /file is not a directory/);
  assert.match(why(openInRoot(root, "/", "socket")), /not a socket/);
  assert.match(why(openInRoot(join(base, "no-such-root"), "/x", "socket")), /no-such-root: .*ENOENT/);
});

test("a link swapped for one pointing out, between walks: the next walk still stays inside", () => {
  rmSync(join(root, "var", "run"));
  symlinkSync(outside, join(root, "var", "run")); // the node's directory, by its real path
  const r = openInRoot(root, "/var/run/root-only.sock", "socket");
  assert.match(why(r), /ENOENT/);
  rmSync(join(root, "var", "run"));
  symlinkSync("../run", join(root, "var", "run"));
});
