import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { requireRoot } from "@scaph/common/testing";
import { join } from "node:path";
import { qemuRig } from "./rig.js";
import type { QemuRig } from "./rig.js";

/** A real tmpfs on a VM's tree dir (as setup makes it); needs root. */
async function mountVmTmpfs(q: QemuRig, vm: string, size: string): Promise<string> {
  requireRoot("it mounts a real tmpfs");
  const dir = join(q.baseDir, vm);
  await mkdir(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "scaph-test", dir]);
  return dir;
}

test("a full tmpfs: the write fails and is logged, other VMs go on, no energy is lost", async () => {
  const q = await qemuRig();
  const dir = await mountVmTmpfs(q, "web-1", "256k");
  try {
    await q.step();
    const advance = async (): Promise<void> => {
      await q.rig.power.advance("intel-rapl:0", 20_000_000);
      await q.rig.proc.advanceBusy(400);
      await q.advanceCgroup("machine.slice/machine-qemu\\x2d1\\x2dweb\\x2d1.scope", 1_000_000);
    };
    // Fill the tmpfs to the last byte.
    try {
      execFileSync("dd", ["if=/dev/zero", `of=${join(dir, "filler")}`, "bs=4k"], { stdio: "ignore" });
    } catch {
      // dd stops with ENOSPC: that is the point
    }
    // Make the next write need a new page: the counter grows by a digit.
    await advance();
    const s1 = await q.step(2);
    assert.equal(s1.vms.find((v) => v.name === "web-1")?.written, false);
    assert.equal(s1.vms.find((v) => v.name === "rhel-vm")?.written, true);
    assert.ok(q.lines.some((l) => l.includes("tree web-1") && /ENOSPC|no space/i.test(l)), q.lines.join("\n"));
    await rm(join(dir, "filler"));
    await advance();
    const s2 = await q.step(2);
    assert.equal(s2.vms.find((v) => v.name === "web-1")?.written, true);
    // Two intervals of 5 J each (package share 0.25 × 20 J), both written.
    assert.equal((await readFile(join(dir, "intel-rapl:0", "energy_uj"), "utf8")).trim(), "10000000");
    assert.ok(q.lines.some((l) => l.includes("tree web-1: writing again")));
  } finally {
    execFileSync("umount", [dir]);
    await q.cleanup();
  }
});

test("mount point detection: no warning for a tmpfs-backed VM dir", async () => {
  const q = await qemuRig();
  const dir = await mountVmTmpfs(q, "rhel-vm", "1m");
  try {
    await q.step();
    assert.equal(q.lines.some((l) => l.includes(`${dir} is not a mount point`)), false);
    assert.ok(q.lines.some((l) => l.includes("web-1 is not a mount point")));
    // The tree went into the tmpfs, not under it.
    const [tree, mount] = await Promise.all([stat(join(dir, "intel-rapl:0", "energy_uj")), stat(dir)]);
    assert.equal(tree.dev, mount.dev);
    assert.notEqual(mount.dev, (await stat(q.baseDir)).dev);
  } finally {
    execFileSync("umount", [dir]);
    await q.cleanup();
  }
});
