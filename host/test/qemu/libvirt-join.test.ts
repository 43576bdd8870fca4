import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@scaph/common";
import { fixturesDir } from "@scaph/common/testing";
import { libVersion } from "@scaph/libvirt";
import { LibvirtDomains } from "../../src/qemu/libvirt-source.js";
import { qemuRig } from "./rig.js";

// LibvirtDomains logs and goes on without libvirt (as the daemon must); these tests need it, and say so.
const requireLibvirt = (): unknown => libVersion();

test("VMs are joined with libvirt's running domains by UUID, then by name", async () => {
  requireLibvirt();
  const lines: string[] = [];
  const lv = new LibvirtDomains(`test://${join(fixturesDir(), "libvirt", "node.xml")}`, createLogger({ level: "info", write: (l) => lines.push(l) }));
  const q = await qemuRig({ libvirt: lv });
  try {
    const s = await q.step();
    const by = new Map(s.vms.map((v) => [v.name, v]));
    assert.equal(by.get("web-1")?.libvirt, true);
    assert.equal(by.get("odd,name")?.libvirt, true);
    assert.equal(by.get("rhel-vm")?.libvirt, false);
    assert.equal(by.get("plainvm")?.libvirt, false);
  } finally {
    await lv.close();
    await q.cleanup();
  }
});

test("libvirt unreachable: logged once, discovery goes on from /proc; used again when it returns", async () => {
  requireLibvirt();
  const dir = await mkdtemp(join(tmpdir(), "scaph-lv-"));
  const node = join(dir, "node.xml");
  const lines: string[] = [];
  const log = createLogger({ level: "info", write: (l) => lines.push(l) });
  const lv = new LibvirtDomains(`test://${node}`, log, 2000);
  try {
    assert.equal(await lv.poll(), null);
    assert.equal(await lv.poll(), null);
    assert.equal(lines.filter((l) => l.includes("unreachable")).length, 1);
    await copyFile(join(fixturesDir(), "libvirt", "node.xml"), node);
    const doms = await lv.poll();
    assert.deepEqual(doms?.map((d) => d.name).sort(), ["db-1", "odd,name", "web-1"]);
    assert.ok(lines.some((l) => l.includes("is back")));
  } finally {
    await lv.close();
    await rm(dir, { recursive: true, force: true });
  }
});
