import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Connection, DomainXMLFlags } from "@scaph/libvirt";
import { fixturesDir } from "@scaph/common/testing";
import { addShare, findShare, normalizeXml, removeShare } from "../../src/setup/domain-xml.js";
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
