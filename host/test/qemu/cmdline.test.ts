import { test } from "node:test";
import assert from "node:assert/strict";
import { parseQemuCmdline, qemuFlavour, splitQemuOpts, unsafeNameReason } from "../../src/index.js";

const Q = "/usr/bin/qemu-system-x86_64";

test("libvirt's -name guest=NAME,debug-threads=on and -uuid", () => {
  const id = parseQemuCmdline(Q, [Q, "-name", "guest=web-1,debug-threads=on", "-S", "-uuid", "11111111-2222-3333-4444-555555555501"]);
  assert.deepEqual(id, { flavour: "qemu-system", name: "web-1", uuid: "11111111-2222-3333-4444-555555555501", vmid: null });
});

test("',,' in a name is a literal comma", () => {
  assert.deepEqual(splitQemuOpts("guest=odd,,name,debug-threads=on"), ["guest=odd,name", "debug-threads=on"]);
  assert.equal(parseQemuCmdline(Q, [Q, "-name", "guest=odd,,name,debug-threads=on"])?.name, "odd,name");
  assert.equal(parseQemuCmdline(Q, [Q, "-name", "a,,,,b"])?.name, "a,,b");
});

test("plain -name NAME, -name=NAME, and no -name", () => {
  assert.equal(parseQemuCmdline(Q, [Q, "-name", "plainvm"])?.name, "plainvm");
  assert.equal(parseQemuCmdline(Q, [Q, "-name=eq-vm,process=qemu:eq"])?.name, "eq-vm");
  assert.equal(parseQemuCmdline(Q, [Q, "-machine", "none"])?.name, null);
  assert.equal(parseQemuCmdline(Q, [Q, "-name", "process=x"])?.name, null);
});

test("RHEL qemu-kvm and Proxmox kvm -id N -name NAME", () => {
  assert.equal(parseQemuCmdline("/usr/libexec/qemu-kvm", ["/usr/libexec/qemu-kvm", "-name", "guest=rhel,debug-threads=on"])?.flavour, "qemu-kvm");
  const pve = parseQemuCmdline("/usr/bin/kvm", ["/usr/bin/kvm", "-id", "100", "-name", "pve-vm,debug-threads=on"]);
  assert.deepEqual(pve, { flavour: "proxmox", name: "pve-vm", uuid: null, vmid: 100 });
});

test("not qemu: other executables, kvm elsewhere, a bad UUID ignored", () => {
  assert.equal(qemuFlavour("/usr/sbin/nginx", "nginx"), null);
  assert.equal(qemuFlavour("/opt/kvm", "/opt/kvm"), null);
  // argv[0] is the process's to choose: only the executable counts.
  assert.equal(qemuFlavour("", "qemu-system-aarch64"), null);
  assert.equal(qemuFlavour("/usr/bin/python3.11", "qemu-system-x86_64"), null);
  assert.equal(qemuFlavour("/usr/bin/qemu-system-x86_64", "kvm"), "proxmox");
  assert.equal(parseQemuCmdline(Q, [Q, "-name", "x", "-uuid", "nope"])?.uuid, null);
});

test("unsafe directory names are refused with a reason", () => {
  for (const bad of ["", ".", "..", "../../etc", "a/b", "a\0b", ".hidden", "tab\tname", "x".repeat(201)]) {
    assert.notEqual(unsafeNameReason(bad), null, JSON.stringify(bad));
  }
  // Invalid UTF-8 (decoded as U+FFFD), bidi override, line separators, C1 NEL, zero-width joiner, NFD.
  for (const bad of ["vm-\uFFFD", "vm-\u202Egnp.exe", "a\u2028b", "a\u2029b", "a\u0085b", "a\u200Db", "cafe\u0301", "\uD800x"]) {
    assert.notEqual(unsafeNameReason(bad), null, JSON.stringify(bad));
  }
  for (const good of ["web-1", "odd,name", "with space", "ünïcode", "café", "日本語-vm"]) assert.equal(unsafeNameReason(good), null, good);
});
