import { test } from "node:test";
import assert from "node:assert/strict";
import { Connection, DomainXMLFlags, ErrorCode, LibvirtError, ListDomainsFlags, infosOf, libVersion } from "../src/index.js";
import { FIXTURE, fixtureUri } from "./helpers.js";

test("libVersion: the loaded libvirt.so.0 (install Debian libvirt0 if this fails)", () => {
  const v = libVersion();
  assert.ok(v.major >= 6, `libvirt ${v.major}.${v.minor}`);
  assert.equal(v.number, v.major * 1e6 + v.minor * 1e3 + v.release);
});

test("test:///default: type, liveness, the built-in 'test' domain", () => {
  using c = Connection.open("test:///default");
  assert.equal(c.hypervisorType(), "TEST");
  assert.equal(c.isAlive(), true);
  assert.equal(c.canonicalUri(), "test:///default");
  assert.equal(c.libVersion().major, libVersion().major);
  const doms = c.listAllDomains();
  try {
    assert.deepEqual(
      doms.map((d) => d.name),
      ["test"],
    );
    assert.equal(doms[0]?.isActive, true);
    assert.equal(doms[0]?.state.state, "RUNNING");
  } finally {
    for (const d of doms) d.free();
  }
});

test("fixture node: names, UUIDs, ids and states; flags filter", () => {
  using c = Connection.openReadOnly(fixtureUri);
  const all = c.listAllDomains(ListDomainsFlags.ALL);
  const info = all.map((d) => d.info()).sort((a, b) => a.name.localeCompare(b.name));
  for (const d of all) d.free();
  assert.deepEqual(
    info.map((i) => [i.name, i.uuid, i.active, i.id === null]),
    [
      ["batch-off", FIXTURE.off.uuid, false, true],
      ["db-1", FIXTURE.db.uuid, true, false],
      ["odd,name", FIXTURE.odd.uuid, true, false],
      ["web-1", FIXTURE.web.uuid, true, false],
    ],
  );
  const inactive = c.listAllDomains(ListDomainsFlags.INACTIVE);
  assert.deepEqual(
    inactive.map((d) => d.name),
    ["batch-off"],
  );
  for (const d of inactive) d.free();
  const active = c.listAllDomains(ListDomainsFlags.ACTIVE);
  assert.equal(active.length, 3);
  for (const d of active) d.free();
});

test("lookup by name and by UUID give the same domain", () => {
  using c = Connection.openReadOnly(fixtureUri);
  using a = c.lookupByName(FIXTURE.db.name);
  using b = c.lookupByUUID(FIXTURE.db.uuid);
  assert.equal(a.uuid, FIXTURE.db.uuid);
  assert.equal(b.name, FIXTURE.db.name);
  assert.equal(a.id, b.id);
});

test("XML: live and inactive; a round trip through defineXML is stable", () => {
  using c = Connection.open(fixtureUri);
  using d = c.lookupByName(FIXTURE.web.name);
  const xml = d.xml(DomainXMLFlags.INACTIVE);
  assert.match(xml, /<name>web-1<\/name>/);
  assert.match(xml, /<uuid>11111111-2222-3333-4444-555555555501<\/uuid>/);
  assert.match(d.xml(DomainXMLFlags.SECURE), /web-1\.qcow2/);
  using again = c.defineXML(xml);
  assert.equal(again.xml(DomainXMLFlags.INACTIVE), xml);
});

test("defineXML: a new persistent domain, found by name, then undefined", () => {
  using c = Connection.open(fixtureUri);
  const xml =
    "<domain type='test'><name>fresh</name><uuid>aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee</uuid>" +
    "<memory>131072</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>";
  using d = c.defineXML(xml);
  assert.equal(d.isActive, false);
  using found = c.lookupByUUID("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
  assert.equal(found.name, "fresh");
  d.undefine();
  assert.throws(
    () => c.lookupByName("fresh"),
    (e: unknown) => e instanceof LibvirtError && e.is("NO_DOMAIN"),
  );
});

test("infosOf: a domain gone between the list and its reading (an incoming migration aborted) is left out, the others read", () => {
  using c = Connection.open(fixtureUri);
  const xml =
    "<domain type='test'><name>incoming</name><uuid>aaaaaaaa-bbbb-cccc-dddd-000000000042</uuid>" +
    "<memory>131072</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>";
  using defined = c.defineXML(xml);
  defined.create();
  const listed = c.listAllDomains(ListDomainsFlags.ACTIVE);
  try {
    assert.ok(listed.some((d) => d.name === "incoming"));
    defined.destroy();
    defined.undefine();
    assert.throws(
      () => listed.find((d) => d.name === "incoming")?.info(),
      (e: unknown) => e instanceof LibvirtError && e.is("NO_DOMAIN"),
    );
    const infos = infosOf(listed);
    assert.deepEqual(
      infos.map((i) => i.name),
      listed.map((d) => d.name).filter((n) => n !== "incoming"),
    );
    assert.ok(infos.length > 0 && infos.every((i) => i.active));
  } finally {
    for (const d of listed) d.free();
  }
});

test("errors: unknown domain, bad XML, bad URI, closed connection, freed domain", () => {
  const c = Connection.open(fixtureUri);
  assert.throws(
    () => c.lookupByName("nope"),
    (e: unknown) => e instanceof LibvirtError && e.code === ErrorCode.NO_DOMAIN && e.domainName === "TEST" && e.call === "virDomainLookupByName",
  );
  assert.throws(
    () => c.lookupByUUID("not-a-uuid"),
    (e: unknown) => e instanceof LibvirtError && e.is("INVALID_ARG"),
  );
  assert.throws(
    () => c.defineXML("<domain"),
    (e: unknown) => e instanceof LibvirtError && (e.is("XML_DETAIL") || e.is("XML_ERROR")),
  );
  assert.throws(() => c.defineXML("<domain type='test'><name>x</name></domain>"), LibvirtError);
  const d = c.lookupByName(FIXTURE.web.name);
  d.free();
  d.free();
  assert.throws(
    () => d.name,
    (e: unknown) => e instanceof LibvirtError && e.is("INVALID_DOMAIN"),
  );
  c.close();
  c.close();
  assert.equal(c.isAlive(), false);
  assert.throws(
    () => c.listAllDomains(),
    (e: unknown) => e instanceof LibvirtError && e.is("INVALID_CONN"),
  );
  assert.throws(
    () => Connection.open("bogus:///nowhere"),
    (e: unknown) => e instanceof LibvirtError && e.call === "virConnectOpen",
  );
});
