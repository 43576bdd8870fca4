import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Connection, DomainXMLFlags } from "@scaph/libvirt";
import { fixturesDir } from "@scaph/test-support";
import {
  addChannel,
  addShare,
  channelElementXml,
  findChannel,
  findShare,
  hasVirtioSerial,
  normalizeXml,
  removeChannel,
  removeShare,
} from "../../src/vm/domain-xml.js";
import { checkGolden } from "../golden.js";

const uri = `test://${join(fixturesDir(), "libvirt", "node.xml")}`;

function persistentXml(c: Connection, name: string): string {
  using d = c.lookupByName(name);
  return d.xml(DomainXMLFlags.INACTIVE | DomainXMLFlags.SECURE);
}

/** libvirt accepts the edited XML, and what it stores has the share. */
function defineAndRead(c: Connection, xml: string): string {
  using d = c.defineXML(xml);
  return d.xml(DomainXMLFlags.INACTIVE);
}

const spec = (transport: "virtiofs" | "9p", name: string, virtiofsReadonly = false) => ({
  transport,
  sourceDir: `/var/lib/libvirt/scaphandre/${name}`,
  virtiofsReadonly,
});

test("virtiofs on a domain without memoryBacking: filesystem with cache none, memfd shared memory", async () => {
  using c = Connection.open(uri);
  const xml = persistentXml(c, "web-1");
  const e = addShare(xml, spec("virtiofs", "web-1"));
  assert.equal(e.changed, true);
  await checkGolden("libvirt/web-1.virtiofs.xml", e.xml);
  const stored = defineAndRead(c, e.xml);
  assert.deepEqual(findShare(stored), { transport: "virtiofs", sourceDir: "/var/lib/libvirt/scaphandre/web-1", readonly: false });
  assert.match(stored, /<cache mode=.none.\/>/);
  assert.match(stored, /<access mode=.shared.\/>/);
});

test("virtiofs on a domain with memoryBacking (hugepages): source and access added inside it", async () => {
  using c = Connection.open(uri);
  const e = addShare(persistentXml(c, "db-1"), spec("virtiofs", "db-1"));
  await checkGolden("libvirt/db-1.virtiofs.xml", e.xml);
  assert.equal((e.xml.match(/<memoryBacking>/g) ?? []).length, 1);
  assert.match(e.xml, /<hugepages\/>/);
  defineAndRead(c, e.xml);
});

test("9p: read-only filesystem, no shared memory needed", async () => {
  using c = Connection.open(uri);
  const e = addShare(persistentXml(c, "web-1"), spec("9p", "web-1"));
  await checkGolden("libvirt/web-1.9p.xml", e.xml);
  assert.doesNotMatch(e.xml, /memoryBacking/);
  assert.deepEqual(findShare(defineAndRead(c, e.xml)), { transport: "9p", sourceDir: "/var/lib/libvirt/scaphandre/web-1", readonly: true });
});

test("virtiofs <readonly/> only where libvirt accepts it", () => {
  using c = Connection.open(uri);
  const xml = persistentXml(c, "web-1");
  assert.equal(findShare(addShare(xml, spec("virtiofs", "web-1", true)).xml)?.readonly, true);
  assert.equal(findShare(addShare(xml, spec("virtiofs", "web-1", false)).xml)?.readonly, false);
});

test("a domain that already has the share is left unchanged; another transport is refused", () => {
  using c = Connection.open(uri);
  const once = addShare(persistentXml(c, "web-1"), spec("virtiofs", "web-1"));
  const twice = addShare(once.xml, spec("virtiofs", "web-1"));
  assert.equal(twice.changed, false);
  assert.equal(twice.xml, once.xml);
  assert.throws(() => addShare(once.xml, spec("9p", "web-1")), /run teardown first/);
});

test("teardown removes exactly the share: nothing else changes", async () => {
  using c = Connection.open(uri);
  const xml = persistentXml(c, "web-1");
  const nine = addShare(xml, spec("9p", "web-1"));
  const back = removeShare(nine.xml);
  assert.equal(back.changed, true);
  assert.equal(back.xml, normalizeXml(xml));
  const vf = removeShare(addShare(persistentXml(c, "db-1"), spec("virtiofs", "db-1")).xml);
  await checkGolden("libvirt/db-1.after-teardown.xml", vf.xml);
  assert.equal(removeShare(xml).changed, false);
  assert.equal(findShare(defineAndRead(c, back.xml)), null);
});

test("channel: a virtio channel org.scaph.energy.0, added once and removed exactly; libvirt adds its controller", async () => {
  using c = Connection.open(uri);
  const xml = persistentXml(c, "db-1");
  assert.equal(findChannel(xml), null);
  const e = addChannel(xml);
  assert.deepEqual(e.notes, ["add <channel> virtio org.scaph.energy.0"]);
  await checkGolden("libvirt/db-1.channel.xml", e.xml);
  assert.equal(addChannel(e.xml).changed, false, "idempotent");
  const stored = defineAndRead(c, e.xml);
  assert.deepEqual(findChannel(stored), { path: null, state: null });
  assert.equal(hasVirtioSerial(stored), true, "libvirt added the virtio-serial controller the channel needs");
  assert.equal(hasVirtioSerial(xml), false);
  const r = removeChannel(stored);
  assert.equal(r.changed, true);
  assert.equal(findChannel(r.xml), null);
  assert.equal(normalizeXml(removeChannel(e.xml).xml), normalizeXml(xml), "nothing else changed");
  assert.match(channelElementXml(e.xml) ?? "", /^<channel type="unix"><source mode="bind"\/>|<target type="virtio" name="org.scaph.energy.0"\/>/);
});

test("channel in a live XML: libvirt's socket path and the guest side's state", () => {
  const live = `<domain type='kvm' id='5'><name>x</name><devices>
    <controller type='virtio-serial' index='0'/>
    <channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-5-x/org.guest_agent.0'/><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>
    <channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-5-x/org.scaph.energy.0'/><target type='virtio' name='org.scaph.energy.0' state='disconnected'/></channel>
  </devices></domain>`;
  assert.deepEqual(findChannel(live), { path: "/var/lib/libvirt/qemu/channel/target/domain-5-x/org.scaph.energy.0", state: "disconnected" });
  assert.equal(hasVirtioSerial(live), true);
});
