/**
 * Nested VMs: scaph-host qemu in a guest that is a hypervisor too, its
 * sensor the guest's own tree (fixtures/powercap/vm-tree, the tree a scaph
 * host writes into a VM: package-0, core, dram, flat). The guest's own VMs
 * (fixtures/proc/qemu) get their share of the guest's energy, to the µJ.
 * A stand-in for a lab guest running scaph-host: same code, fixture trees.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { GUEST_TREE, hostPowercapPath, SYS_POWERCAP } from "../../src/nested.js";
import { qemuRig, WEB_CG } from "./rig.js";

/** A VM tree's energy as a reader of it sums it: its package zones and its dram zones, µJ. */
async function readerTotal(base: string, vm: string): Promise<number> {
  let uj = 0;
  for (const zone of await readdir(join(base, vm))) {
    if (!zone.startsWith("intel-rapl:")) continue;
    const name = (await readFile(join(base, vm, zone, "name"), "utf8")).trim();
    if (name.startsWith("package-") || name === "dram") uj += Number(await readFile(join(base, vm, zone, "energy_uj"), "utf8"));
  }
  return uj;
}

test("in a guest whose tree says 12 J, its VMs get their share of those 12 J to the µJ, and their own trees gain it", async () => {
  const q = await qemuRig({ powercap: "vm-tree" });
  try {
    await q.step();
    const before = await readerTotal(q.baseDir, "web-1");
    const beforePlain = await readerTotal(q.baseDir, "plainvm");
    await q.rig.power.advance("intel-rapl:0", 12_000_000); // the guest's package: what its host gave it
    await q.rig.power.advance("intel-rapl:0:0", 5_000_000); // its core share
    await q.rig.power.advance("intel-rapl:0:1", 3_000_000); // its dram share
    await q.rig.proc.advanceBusy(400);
    await q.advanceCgroup(WEB_CG, 1_000_000); // web-1: 100 ticks
    await q.rig.proc.advanceProcess(1006, 100); // plainvm: 100 ticks
    await q.rig.proc.advanceProcess(100, 50); // nginx in the guest
    const s = await q.step(2);
    assert.equal(s.hostUj, 15_000_000, "the guest's energy: its package and its dram, as on bare metal");
    const web = s.vms.find((v) => v.name === "web-1");
    const plain = s.vms.find((v) => v.name === "plainvm");
    assert.equal(web?.energyUj, 3_750_000, "100 of 400 busy ticks");
    assert.equal(plain?.energyUj, 3_750_000);
    const vmsUj = s.vms.reduce((a, v) => a + v.energyUj, 0);
    assert.ok(vmsUj + s.othersUj <= s.hostUj, `${vmsUj} + ${s.othersUj} <= ${s.hostUj}`);
    assert.equal(s.snapshot.attributedUj, vmsUj + s.othersUj);
    // the nested VMs' trees gain exactly what was attributed: their package and dram, as a reader sums them
    assert.equal((await readerTotal(q.baseDir, "web-1")) - before, 3_750_000);
    assert.equal((await readerTotal(q.baseDir, "plainvm")) - beforePlain, 3_750_000);
  } finally {
    await q.cleanup();
  }
});

test("scaph-host's default powercap path: the host's RAPL, else (in a VM) the tree its host gives it", () => {
  const has =
    (...paths: string[]) =>
    (p: string): boolean =>
      paths.includes(p);
  assert.equal(hostPowercapPath({}, has(`${SYS_POWERCAP}/intel-rapl:0/energy_uj`, `${GUEST_TREE}/intel-rapl:0/energy_uj`)), SYS_POWERCAP);
  assert.equal(hostPowercapPath({}, has(`${GUEST_TREE}/intel-rapl:0/energy_uj`)), GUEST_TREE);
  assert.equal(hostPowercapPath({ SCAPHANDRE_POWERCAP_PATH: "/srv/t" }, has("/srv/t/intel-rapl:0/energy_uj")), "/srv/t");
  assert.equal(hostPowercapPath({}, has()), SYS_POWERCAP, "neither: the usual path, and its usual error");
  assert.equal(hostPowercapPath({}, has(`${SYS_POWERCAP}/intel-rapl/intel-rapl:0/energy_uj`)), SYS_POWERCAP);
});
