/** Discovery joined with libvirt (its test driver, libvirt.so.0 from Debian's libvirt0): libvirt's recorded pid tells a VM from a spoof. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { createLogger } from "@scaph/common";
import { fixturesDir } from "@scaph/test-support";
import { libVersion } from "@scaph/libvirt";
import { LibvirtDomains } from "../../src/qemu/libvirt-source.js";
import { addQemu, Q, qemuRig } from "./rig.js";
import type { QemuRig } from "./rig.js";

/** A rig joined with the fixture's libvirt node (test driver), libvirt's pid files saying `pids`. */
async function withLibvirt(pids: Record<string, number>, f: (q: QemuRig) => Promise<void>): Promise<void> {
  libVersion(); // needs libvirt.so.0 (Debian libvirt0)
  const lv = new LibvirtDomains(`test://${join(fixturesDir(), "libvirt", "node.xml")}`, createLogger({ level: "error" }));
  const q = await qemuRig({ libvirt: lv, libvirtPid: (d) => pids[d] ?? null });
  try {
    await f(q);
  } finally {
    await lv.close();
    await q.cleanup();
  }
}
test("with libvirt: a process whose pid is not the one libvirt recorded for the domain is a spoof", async () => {
  for (const [recorded, found] of [
    [4242, false],
    [1000, true],
  ] as const) {
    await withLibvirt({ "web-1": recorded }, async (q) => {
      const s = await q.step();
      const web = s.vms.find((v) => v.name === "web-1");
      assert.equal(web !== undefined, found, `libvirt's pid ${recorded}`);
      if (!found) assert.ok(q.lines.some((l) => l.includes('qemu process 1000 claims libvirt domain "web-1", whose pid is 4242: ignored, as a spoof')));
      if (!found) assert.deepEqual((await readdir(q.baseDir).catch((): string[] => [])).includes("web-1"), false, "no directory for it");
    });
  }
});

test("two processes claim one VM, and libvirt's pid file names the younger: libvirt's pid beats age", async () => {
  await withLibvirt({ "web-1": 1013 }, async (q2) => {
    // A younger process with web-1's UUID, which libvirt's pid file names: it wins over the older 1000.
    await addQemu(q2, 1013, 9000, [Q, "-name", "guest=web-1,debug-threads=on", "-uuid", "11111111-2222-3333-4444-555555555501"], 64055);
    const s = await q2.step();
    assert.equal(s.vms.filter((v) => v.name === "web-1").length, 1, "never two trees for one name");
    assert.equal(s.vms.find((v) => v.name === "web-1")?.pid, 1013);
    assert.ok(q2.lines.some((l) => l.includes('qemu process 1000 claims libvirt domain "web-1", whose pid is 1013')));
  });
});
