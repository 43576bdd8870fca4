import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { Socket } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { AsyncConnection, DomainXMLFlags, LibvirtError, LibvirtTimeoutError } from "../src/index.js";
import { FIXTURE, fixtureUri, repoRoot } from "./helpers.js";

test("AsyncConnection: list, XML and errors run on a worker thread", async () => {
  await using c = await AsyncConnection.open(fixtureUri, { readOnly: true });
  const doms = await c.listDomains();
  assert.deepEqual(doms.map((d) => d.name).sort(), ["batch-off", "db-1", "odd,name", "web-1"]);
  const web = doms.find((d) => d.uuid === FIXTURE.web.uuid);
  assert.equal(web?.active, true);
  assert.ok(web?.id !== null);
  assert.match(await c.domainXml(FIXTURE.web.uuid, DomainXMLFlags.INACTIVE), /<name>web-1<\/name>/);
  await assert.rejects(c.domainXml("99999999-2222-3333-4444-555555555501"), (e: unknown) => e instanceof LibvirtError && e.is("NO_DOMAIN"));
  assert.equal(await c.isAlive(), true);
});

test("AsyncConnection: a libvirtd that never answers times out without freezing the event loop", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-hung-"));
  const sock = join(dir, "libvirt-sock");
  const held: Socket[] = [];
  // A daemon that accepts connections and never answers.
  const server = createServer((s) => held.push(s));
  await new Promise<void>((r) => server.listen(sock, r));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  try {
    const t0 = Date.now();
    await assert.rejects(AsyncConnection.open(`qemu+unix:///system?socket=${sock}`, { timeoutMs: 800 }), (e: unknown) => {
      if (!(e instanceof LibvirtTimeoutError)) throw e; // e.g. libvirt.so.0 missing: its message names libvirt0
      return e.call === "open";
    });
    const elapsed = Date.now() - t0;
    // no earlier than its deadline, the event loop turning meanwhile; how long it took is reported, not bounded
    assert.ok(elapsed >= 750, `timed out after ${elapsed} ms`);
    console.log(`# open gave up after ${elapsed} ms (deadline 800 ms)`);
    assert.ok(ticks >= 20, `the event loop ran ${ticks} timer ticks meanwhile`);
    assert.ok(held.length >= 1, "libvirt really connected to the hung daemon");
  } finally {
    clearInterval(timer);
    for (const s of held) s.destroy();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
  // (A daemon that hangs after the connection was made, and comes back: test/e2e/libvirt-hang.system.test.ts, against a real libvirtd.)
});

test("without libvirt.so.0: importing works, first use names libvirt0 / libvirt-libs", async () => {
  const script = `
    const L = await import(${JSON.stringify(join(repoRoot, "libvirt/dist/src/index.js"))});
    try { L.Connection.open("test:///default"); console.log("opened?!"); }
    catch (e) { console.log(e.name + ": " + e.message); }`;
  const out = await new Promise<string>((resolve) =>
    execFile(
      process.execPath,
      ["--input-type=module", "-e", script],
      { env: { ...process.env, SCAPH_LIBVIRT_SO: "/nonexistent/libvirt.so.0" } },
      (_e, stdout, stderr) => resolve(stdout + stderr),
    ),
  );
  assert.match(out, /^LibvirtUnavailableError: Cannot load \/nonexistent\/libvirt\.so\.0/);
  assert.match(out, /apt-get install libvirt0/);
  assert.match(out, /libvirt-libs/);
});
