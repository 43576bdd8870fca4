import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createLogger } from "@scaph/common";
import { fixturesDir, requireRoot } from "@scaph/test-support";
import { libVersion } from "@scaph/libvirt";
import { join } from "node:path";
import { LibvirtDomains } from "../../src/qemu/libvirt-source.js";
import { qemuRig, WEB_CG } from "./rig.js";
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
    assert.ok(
      q.lines.some((l) => l.includes("tree web-1") && /ENOSPC|no space/i.test(l)),
      q.lines.join("\n"),
    );
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
    assert.equal(
      q.lines.some((l) => l.includes(`${dir} is not a mount point`)),
      false,
    );
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

test("a VM whose XML shares its dir, with no tmpfs there (teardown --force): not written, energy kept until the tmpfs is back", async () => {
  requireRoot("it mounts a real tmpfs");
  libVersion(); // libvirt.so.0 (Debian libvirt0): the XML comes from libvirt's test driver
  const dir = await mkdtemp(join(tmpdir(), "scaph-share-"));
  const node = join(dir, "node.xml");
  const xml = await readFile(join(fixturesDir(), "libvirt", "node.xml"), "utf8");
  const share = `<filesystem type='mount'><driver type='virtiofs'/><source dir='/var/lib/libvirt/scaphandre/web-1'/><target dir='scaphandre'/></filesystem>`;
  await writeFile(node, xml.replace(/(<name>web-1<\/name>[\s\S]*?<devices>)/, `$1${share}`));
  const lv = new LibvirtDomains(`test://${node}`, createLogger({ level: "error", write: () => {} }), 5000, join(dir, "no-channel-dir"));
  const q = await qemuRig({ libvirt: lv });
  const web = join(q.baseDir, "web-1");
  const advance = async (): Promise<void> => {
    await q.rig.power.advance("intel-rapl:0", 20_000_000);
    await q.rig.proc.advanceBusy(400);
    await q.advanceCgroup(WEB_CG, 1_000_000);
  };
  try {
    await q.step();
    await advance();
    const s1 = await q.step(2);
    assert.equal(s1.vms.find((v) => v.name === "web-1")?.transports?.share, true);
    assert.equal(s1.vms.find((v) => v.name === "web-1")?.written, false);
    await assert.rejects(stat(web), /ENOENT/, "nothing written on the host's filesystem");
    assert.equal(s1.vms.find((v) => v.name === "rhel-vm")?.written, true, "a VM libvirt does not know is written as before");
    assert.equal(q.lines.filter((l) => l.includes(`${web} is not a mount point but web-1's XML shares it`)).length, 1, q.lines.join("\n"));
    await advance();
    await q.step(2);
    assert.equal(q.lines.filter((l) => l.includes(`${web} is not a mount point`)).length, 1, "said once");
    // setup again: the tmpfs is back, the tree gets all of it (three steps of a quarter of 20 J)
    await mountVmTmpfs(q, "web-1", "1m");
    try {
      await advance();
      const s3 = await q.step(2);
      assert.equal(s3.vms.find((v) => v.name === "web-1")?.written, true);
      assert.equal((await readFile(join(web, "intel-rapl:0", "energy_uj"), "utf8")).trim(), "15000000");
      assert.ok(q.lines.some((l) => l.includes(`${web} is a mount point again`)));
    } finally {
      execFileSync("umount", [web]);
    }
  } finally {
    await lv.close();
    await q.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});

test("a write that fails names the VM's real directory (never /proc/self/fd/N) and the errno", async () => {
  const q = await qemuRig();
  const dir = await mountVmTmpfs(q, "web-1", "1m");
  try {
    execFileSync("mount", ["-o", "remount,ro", dir]);
    await q.step();
    const line = q.lines.find((l) => l.includes("tree web-1:"));
    assert.ok(line, q.lines.join("\n"));
    assert.match(line, new RegExp(`EROFS.*${dir}`));
    assert.doesNotMatch(line, /\/proc\/self\/fd/);
  } finally {
    execFileSync("umount", [dir]);
    await q.cleanup();
  }
});
