import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fstabLine, mountUnitName, mountUnitText, systemdEscapePath } from "../../src/setup/systemd.js";

function systemdEscape(path: string): string {
  try {
    return execFileSync("systemd-escape", ["--path", "--suffix=mount", path], { encoding: "utf8" }).trim();
  } catch (err) {
    throw new Error(`systemd-escape failed or is missing (install the Debian package systemd): ${String(err)}`);
  }
}

test("mount unit names match systemd-escape --path --suffix=mount", () => {
  for (const p of [
    "/var/lib/libvirt/scaphandre/web-1",
    "/var/lib/libvirt/scaphandre/odd,name",
    "/var/lib/libvirt/scaphandre/with space",
    "/var/lib/libvirt/scaphandre/ünïcode",
    "/var/lib/libvirt/scaphandre/a.b_c:d",
    "/srv//double/slash/",
    "/x/.hidden-ish",
  ]) {
    assert.equal(mountUnitName(p), systemdEscape(p), p);
  }
  assert.equal(systemdEscapePath("/"), "-");
});

test("unit text and fstab line carry the size and mode", () => {
  const u = mountUnitText("/var/lib/libvirt/scaphandre/web-1", "5m", "web-1");
  assert.match(u, /^Where=\/var\/lib\/libvirt\/scaphandre\/web-1$/m);
  assert.match(u, /^Options=size=5m,mode=0755$/m);
  assert.match(u, /^Type=tmpfs$/m);
  assert.equal(fstabLine("/b/with space", "5m"), "tmpfs /b/with\\040space tmpfs size=5m,mode=0755 0 0");
});
