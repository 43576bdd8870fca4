/** Discovery against spoofs, twins, hostile names and too many VMs (fixtures/proc/qemu); with libvirt: discover-libvirt.system.test.ts. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { createLogger } from "@scaph/common";
import { addQemu, Q, qemuRig } from "./rig.js";

const names = (s: { vms: { name: string }[] }): string[] => s.vms.map((v) => v.name);

test("the fixture's spoofs (argv[0] only; a user's copy of qemu) are not VMs, and say why", async () => {
  const q = await qemuRig();
  try {
    const s = await q.step();
    assert.deepEqual(names(s), ["odd,name", "plainvm", "pve-vm", "rhel-vm", "web-1"]);
    assert.equal(s.vms.find((v) => v.name === "web-1")?.pid, 1000, "pid 1008 copies web-1's -name and -uuid");
    assert.equal(s.vms.find((v) => v.name === "rhel-vm")?.pid, 1002, "pid 1009 copies rhel-vm's -name");
    assert.ok(
      q.lines.some((l) => l.includes('process 1008 calls itself "qemu-system-x86_64" but runs "/usr/bin/python3.11": not a VM')),
      q.lines.join("\n"),
    );
    assert.ok(q.lines.some((l) => l.includes("qemu process 1009 runs as uid 1000/1000, not root or the VM user")));
  } finally {
    await q.cleanup();
  }
});

test("two processes claim one VM: the older keeps it, the other is reported", async () => {
  const q = await qemuRig();
  try {
    await addQemu(q, 1010, 5900, [Q, "-name", "plainvm"]); // younger twin of 1006 (start 5600)
    await addQemu(q, 1011, 100, [Q, "-name", "guest=twin,debug-threads=on"]);
    await addQemu(q, 1012, 200, [Q, "-name", "twin"]);
    const s = await q.step();
    assert.equal(s.vms.find((v) => v.name === "plainvm")?.pid, 1006);
    assert.equal(s.vms.find((v) => v.name === "twin")?.pid, 1011);
    assert.ok(q.lines.some((l) => l.includes('qemu process 1010 claims VM "plainvm", already given to pid 1006 (the older): skipped')));
    assert.ok(q.lines.some((l) => l.includes('qemu process 1012 claims VM "twin", already given to pid 1011 (the older): skipped')));
  } finally {
    await q.cleanup();
  }
});

test("names: invalid UTF-8, bidi and NFD look-alikes are refused and reported, never merged", async () => {
  const q = await qemuRig();
  try {
    await addQemu(q, 1020, 100, [Q, "-name", Buffer.from([0x76, 0x6d, 0x2d, 0xff])]); // vm-\xff
    await addQemu(q, 1021, 100, [Q, "-name", Buffer.from([0x76, 0x6d, 0x2d, 0xfe])]); // vm-\xfe
    await addQemu(q, 1022, 100, [Q, "-name", "invoice\u202Efdp.exe"]);
    await addQemu(q, 1023, 100, [Q, "-name", "cafe\u0301"]); // NFD of café
    await addQemu(q, 1024, 100, [Q, "-name", "café"]);
    const s = await q.step();
    assert.deepEqual(names(s), ["café", "odd,name", "plainvm", "pve-vm", "rhel-vm", "web-1"]);
    for (const pid of [1020, 1021])
      assert.ok(
        q.lines.some((l) => l.includes(`qemu process ${pid}: VM name "vm-\\ufffd" refused as a directory (not valid UTF-8`)),
        q.lines.join("\n"),
      );
    assert.ok(q.lines.some((l) => l.includes("qemu process 1022") && l.includes("bidi")));
    assert.ok(q.lines.some((l) => l.includes("qemu process 1023") && l.includes("NFC")));
    for (const l of q.lines) assert.doesNotMatch(l, /[\u202E\u0301]/, "a name is quoted escaped");
  } finally {
    await q.cleanup();
  }
});

test("--max-vms caps the trees; the rest are reported", async () => {
  const q = await qemuRig({ maxVms: 2 });
  try {
    const s = await q.step();
    assert.equal(s.vms.length, 2);
    assert.deepEqual((await readdir(q.baseDir)).filter((n) => !n.startsWith(".")).length, 2);
    assert.ok(q.lines.some((l) => l.includes("more than 2 VMs (--max-vms)")));
  } finally {
    await q.cleanup();
  }
});

test("a domain paused on its way in (an incoming migration) is incoming until libvirt says it runs here, then this host's VM whatever its state", async () => {
  const { copyFixture, removeTree } = await import("@scaph/test-support");
  const { ProcessTable } = await import("@scaph/common");
  const { DomainState, PausedReason, RunningReason } = await import("@scaph/libvirt/flags");
  const { discoverVms, QemuScanner } = await import("../../src/qemu/discover.js");
  const root = await copyFixture("proc/qemu");
  try {
    const sample = new ProcessTable({ procRoot: root, clockTicks: 100, pageSize: 4096 }).sample();
    const scanner = new QemuScanner(root);
    const policy = { allowedUids: new Set([0, 64055, 107]), maxVms: 100, libvirtPid: () => null };
    const web1 = (state: number, reason: number) => ({
      domains: [{ name: "web-1", uuid: "11111111-2222-3333-4444-555555555501", id: 7, active: true, state, reason }],
      knows: () => true,
    });
    const log = createLogger({ level: "error" });
    const incoming = (state: number, reason: number): boolean | undefined =>
      discoverVms(sample, scanner, web1(state, reason), policy, log).find((v) => v.name === "web-1")?.incoming;
    assert.equal(incoming(DomainState.PAUSED, PausedReason.MIGRATION), true, "still receiving: not this host's VM yet");
    assert.equal(incoming(DomainState.PAUSED, PausedReason.STARTING_UP), true);
    assert.equal(incoming(DomainState.RUNNING, RunningReason.MIGRATED), false, "the migration ended: it runs here");
    assert.equal(incoming(DomainState.PAUSED, PausedReason.MIGRATION), false, "paused again for an outgoing migration: still this host's");
    assert.equal(incoming(DomainState.PAUSED, PausedReason.USER), false);
    // Whether it began from a saved image is what libvirt said when it first ran here (a restore), whatever comes later.
    const restoredBy = (sc: InstanceType<typeof QemuScanner>, state: number, reason: number): boolean | undefined =>
      discoverVms(sample, sc, web1(state, reason), policy, log).find((v) => v.name === "web-1")?.restored;
    const restoring = new QemuScanner(root);
    assert.equal(restoredBy(restoring, DomainState.PAUSED, PausedReason.STARTING_UP), false, "on its way in: not known yet");
    assert.equal(restoredBy(restoring, DomainState.RUNNING, RunningReason.RESTORED), true, "libvirt restored it from a save");
    assert.equal(restoredBy(restoring, DomainState.RUNNING, RunningReason.UNPAUSED), true, "paused and resumed since: still the restored qemu");
    assert.equal(restoredBy(scanner, DomainState.RUNNING, RunningReason.RESTORED), false, "a qemu that ran here before (migrated in) was not restored");
    assert.equal(restoredBy(new QemuScanner(root), DomainState.RUNNING, RunningReason.BOOTED), false);
    // A fresh daemon that first sees a domain paused by its user counts it at once.
    assert.equal(
      discoverVms(sample, new QemuScanner(root), web1(DomainState.PAUSED, PausedReason.USER), policy, log).find((v) => v.name === "web-1")?.incoming,
      false,
    );
  } finally {
    await removeTree(root);
  }
});
