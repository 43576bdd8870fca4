/**
 * A local user who starts processes that pose as a VM: named qemu by argv[0],
 * or a copy of the qemu binary, with a real VM's -name and -uuid. None of
 * them gets a tree, and the real VM keeps its own.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readdir, rm, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireCommand, requireRoot } from "@scaph/test-support";
import { startBusyHost } from "../helpers/busy-host.js";
import { hostBin, runNode } from "../helpers/cli.js";
import { sleep, startBackground } from "../helpers/processes.js";
import type { Background } from "../helpers/processes.js";

const UUID = "5ca9a000-0000-4000-8000-0000000000ff";
const AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

test("processes of a local user posing as a VM get no tree; the real VM keeps its own", async () => {
  requireRoot("it starts processes as nobody");
  const h = await startBusyHost("victim", [{ zone: "intel-rapl:0", watts: 20 }], UUID);
  const spoofDir = await mkdtemp(join(tmpdir(), "scaph-spoof-"));
  await chmod(spoofDir, 0o755);
  const spoofs: Background[] = [];
  try {
    // 1. `exec -a qemu-system-x86_64 node ...` as nobody, with the victim's name and UUID;
    // 2. the same with a name of its own, which would make the daemon create a directory.
    const idle = ["-e", "setInterval(() => {}, 1000)", "--"];
    for (const args of [
      ["-name", "guest=victim,debug-threads=on", "-uuid", UUID],
      ["-name", "guest=fresh-spoof"],
    ]) {
      spoofs.push(startBackground(process.execPath, [...idle, ...args], process.env, { argv0: "qemu-system-x86_64", uid: 65534, gid: 65534 }));
    }
    // 3. a copy of the real qemu binary, run by the user.
    const qemu = requireCommand("qemu-system-x86_64", "qemu-system-x86");
    const copy = join(spoofDir, "qemu-system-x86_64");
    await copyFile(qemu, copy);
    await chmod(copy, 0o755);
    spoofs.push(
      startBackground(
        AS_NOBODY[0]!,
        [...AS_NOBODY.slice(1), copy, "-name", "guest=victim,debug-threads=on", "-uuid", UUID, "-machine", "none", "-display", "none", "-nodefaults", "-S"],
        {
          ...process.env,
          QEMU_MODULE_DIR: "/usr/lib/x86_64-linux-gnu/qemu", // a copy elsewhere finds its accelerator modules there
        },
      ),
    );
    await sleep(1000);
    for (const s of spoofs) assert.equal(s.child.exitCode, null, `a spoof ended early: ${s.output()}`);
    const base = join(h.dir, "base");
    const r = await runNode(hostBin, ["-v", "qemu", "--no-libvirt", "--base-dir", base, "--step", "0.5", "--powercap-path", h.powercap, "-t", "2"]);
    assert.equal(r.code, 0, r.stderr);
    // (Other tests' VMs may run on this machine too; none of the spoofs' names may appear.)
    const dirs = await readdir(base);
    assert.ok(dirs.includes("victim"), dirs.join(", "));
    assert.ok(!dirs.includes("fresh-spoof"), dirs.join(", "));
    assert.match(r.stderr, new RegExp(`VM victim \\(pid ${h.vm.child.pid}, uuid ${UUID}\\) found`));
    const [named, fresh, copied] = spoofs.map((s) => s.child.pid);
    for (const pid of [named, fresh]) assert.match(r.stderr, new RegExp(`process ${pid} calls itself "qemu-system-x86_64" but runs ".*node.*": not a VM`));
    assert.match(r.stderr, new RegExp(`qemu process ${copied} runs as uid 65534/65534, not root or the VM user \\(--vm-user\\): ignored`));
  } finally {
    for (const s of spoofs) await s.stop("SIGKILL");
    await h.stop();
    await rm(spoofDir, { recursive: true, force: true });
  }
});
