/** The lab's accelerator probe on a real qemu-system-x86_64. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { domainType, guestBoots, serialBootSector } from "../lab/accel.js";

test("the probe guest prints on its serial port under TCG", async () => {
  assert.equal(await guestBoots("tcg", 20_000), true);
});

test("a guest that never prints is given up at the deadline, as a hung KVM guest would be", async () => {
  const spin = Buffer.alloc(512);
  spin.set([0xeb, 0xfe]); // jmp $
  spin.set([0x55, 0xaa], 510);
  const t0 = Date.now();
  assert.equal(await guestBoots("tcg", 2000, spin), false);
  const took = Date.now() - t0;
  assert.ok(took >= 2000 && took < 6000, `given up after ${took} ms`);
});

test("the boot sector is a valid MBR", () => {
  const b = serialBootSector();
  assert.equal(b.length, 512);
  assert.deepEqual([b[510], b[511]], [0x55, 0xaa]);
});

test("domainType picks kvm only when the CPU shows vmx/svm and a KVM guest boots", async () => {
  const { type, why } = await domainType();
  const virt = /\b(vmx|svm)\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
  if (!virt) assert.deepEqual({ type, why }, { type: "qemu", why: "the CPU shows no vmx/svm" });
  else assert.equal(type === "kvm", await guestBoots("kvm"), why);
});
