/**
 * The KubeVirt hook (onDefineDomain). No KubeVirt runs here: the XML in
 * fixtures/kubevirt stands in for what virt-launcher hands the sidecar-shim
 * (its metadata element, console and VNC sockets, a virtio-serial
 * controller), and the hook is run as the sidecar-shim runs it: a process
 * with `--vmi JSON --domain XML`, its stdout the new XML.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { DOMParser } from "@xmldom/xmldom";
import { fixturesDir } from "@scaph/test-support";
import { findChannel, hasVirtioSerial } from "../../src/vm/domain-xml.js";
import { kubevirtChannelPath, onDefineDomain } from "../../src/kubevirt/hook.js";

const domain = readFileSync(join(fixturesDir(), "kubevirt", "domain.xml"), "utf8");
const vmi = readFileSync(join(fixturesDir(), "kubevirt", "vmi.json"), "utf8");
const UID = "5d6e7f80-0000-4000-8000-000000000001";
const hostBin = resolve(dirname(fileURLToPath(import.meta.url)), "../../../bin/scaph-host.js");

/** The hook as the sidecar-shim runs it. */
function runHook(vmiJson: string, xml: string): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [hostBin, "kubevirt-hook", "onDefineDomain", "--vmi", vmiJson, "--domain", xml], { encoding: "utf8" });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

test("onDefineDomain adds scaph's channel, its socket in bind mode in the VMI's private directory, and keeps everything else", () => {
  const r = runHook(vmi, domain);
  assert.equal(r.status, 0, r.stderr);
  const ch = findChannel(r.stdout);
  assert.deepEqual(ch, { path: `/var/run/kubevirt-private/${UID}/scaph-energy.sock`, state: null });
  assert.equal(kubevirtChannelPath(UID), ch?.path);
  assert.ok(hasVirtioSerial(r.stdout));
  const doc = new DOMParser().parseFromString(r.stdout, "text/xml");
  const channels = Array.from(doc.getElementsByTagName("channel"));
  assert.equal(channels.length, 2, "the guest agent's channel stays");
  assert.equal(doc.getElementsByTagName("kubevirt").length, 1, "KubeVirt's metadata stays");
  assert.equal(doc.getElementsByTagName("serial")[0]?.getElementsByTagName("source")[0]?.getAttribute("path"), `/var/run/kubevirt-private/${UID}/virt-serial0`);
  assert.match(r.stderr, /add <channel> virtio org\.scaph\.energy\.0 at \/var\/run\/kubevirt-private\//);
  // the path is short enough for a unix socket reached from the node as /proc/<pid>/root/...
  assert.ok(`/proc/4194304/root${ch?.path}`.length < 108);
});

test("onDefineDomain is idempotent: its own output comes out byte for byte", () => {
  const once = runHook(vmi, domain).stdout;
  const twice = runHook(vmi, once);
  assert.equal(twice.status, 0);
  assert.equal(twice.stdout, once);
  assert.match(twice.stderr, /left unchanged: it already has scaph's channel/);
});

test("a domain without a virtio-serial controller gets the channel too (libvirt adds the controller)", () => {
  const bare = domain.replace(/\s*<controller type="virtio-serial"[^>]*><\/controller>/, "");
  assert.equal(hasVirtioSerial(bare), false);
  const r = onDefineDomain(vmi, bare);
  assert.equal(r.changed, true);
  assert.ok(findChannel(r.xml));
});

test("what the hook cannot read or must not change comes out unchanged, byte for byte, with the reason on stderr; it never fails the VM", () => {
  const cases: [string, string, RegExp][] = [
    [vmi, "<domain><name>x</name>", /left unchanged: .*unclosed/],
    [vmi, "not xml at all", /left unchanged: .*root element/],
    [vmi, "<network><name>x</name></network>", /not a libvirt domain XML/],
    ["{not json", domain, /no VMI with a metadata\.uid/],
    [JSON.stringify({ metadata: { uid: "../../etc" } }), domain, /no VMI with a metadata\.uid/],
    ["", domain, /no VMI with a metadata\.uid/],
  ];
  for (const [v, x, why] of cases) {
    const r = runHook(v, x);
    assert.equal(r.status, 0, `${x.slice(0, 30)}: ${r.stderr}`);
    assert.equal(r.stdout, x, "unchanged");
    assert.match(r.stderr, why);
  }
  // an unknown hook point: unchanged too
  const other = spawnSync(process.execPath, [hostBin, "kubevirt-hook", "preCloudInitIso", "--domain", domain], { encoding: "utf8" });
  assert.equal(other.status, 0);
  assert.equal(other.stdout, domain);
});
