/** The lab's accelerator probe on a real qemu-system-x86_64. */
import { test } from "node:test";
import assert from "node:assert/strict";
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

test("domainType: kvm only when the CPU flags show vmx/svm AND a KVM guest boots", async () => {
  const cpu = (flags: string): string => `processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: vmx-like name svm\nflags\t\t: ${flags}\n`;
  let probed = 0;
  const probe = (flags: string, boots: boolean) => ({
    cpuinfo: async () => cpu(flags),
    kvmGuestBoots: async () => {
      probed++;
      return boots;
    },
  });
  assert.deepEqual(await domainType(probe("fpu sse2 hypervisor", true)), { type: "qemu", why: "the CPU shows no vmx/svm" });
  assert.equal(probed, 0, "no KVM probe without vmx/svm (and a model name mentioning them does not count)");
  assert.deepEqual(await domainType(probe("fpu vmx sse2", true)), { type: "kvm", why: "a KVM guest booted" });
  assert.equal((await domainType(probe("fpu svm", true))).type, "kvm");
  const hung = await domainType(probe("fpu vmx", false));
  assert.equal(hung.type, "qemu");
  assert.match(hung.why, /did not print within 10 s/);
  assert.equal(probed, 3);
});
