/**
 * @scaph/libvirt's device calls against a real libvirtd (libvirt's test
 * driver in 9.0 has no virDomainAttachDeviceFlags, so only a real daemon
 * shows the success path).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Connection, DeviceModifyFlags, DomainXMLFlags, LibvirtError } from "@scaph/libvirt";
import { requireRoot } from "@scaph/test-support";
import { ensureLibvirtd } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";

const NAME = "scaph-devices-e2e";
let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

test("attach and detach a filesystem in a domain's persistent config, on a real libvirtd", async () => {
  requireRoot("it starts libvirtd");
  daemon = await ensureLibvirtd();
  using c = Connection.open(daemon.uri);
  try {
    c.lookupByName(NAME).undefine();
  } catch {
    // not defined: the usual case
  }
  using d = c.defineXML(
    `<domain type='qemu'><name>${NAME}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>` + `<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>`,
  );
  try {
    const fs = "<filesystem type='mount' accessmode='passthrough'><source dir='/tmp/scaph-x'/><target dir='scaphandre'/><readonly/></filesystem>";
    d.attachDevice(fs, DeviceModifyFlags.CONFIG);
    const withFs = d.xml(DomainXMLFlags.INACTIVE);
    assert.match(
      withFs,
      /<filesystem type='mount' accessmode='passthrough'>[\s\S]*<source dir='\/tmp\/scaph-x'\/>[\s\S]*<target dir='scaphandre'\/>[\s\S]*<readonly\/>/,
    );
    // The same device twice: libvirt refuses, and the error is typed.
    assert.throws(
      () => d.attachDevice(fs, DeviceModifyFlags.CONFIG),
      (e: unknown) => e instanceof LibvirtError && e.call === "virDomainAttachDeviceFlags",
    );
    d.detachDevice(fs, DeviceModifyFlags.CONFIG);
    assert.doesNotMatch(d.xml(DomainXMLFlags.INACTIVE), /scaphandre/);
    // Live on a domain that is not running: refused, typed.
    assert.throws(
      () => d.attachDevice(fs, DeviceModifyFlags.LIVE),
      (e: unknown) => e instanceof LibvirtError && e.is("OPERATION_INVALID"),
    );
  } finally {
    d.undefine();
  }
});
