import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Connection, DomainXMLFlags } from "@scaph/libvirt";
import { fixturesDir, requireRoot } from "@scaph/test-support";
import { findShare } from "../../src/vm/domain-xml.js";
import { mountAt } from "@scaph/common";
import { setup } from "../../src/setup/setup.js";
import { teardown } from "../../src/setup/teardown.js";
import { mountUnitName } from "../../src/setup/systemd.js";

// test:///default keeps its state for the whole process, so successive
// setup() calls see each other's changes. The fixture domain is defined there.
const URI = "test:///default";
// The shared default driver lives while a connection to it is open: hold one.
// (Opened in a hook, so that a missing libvirt.so.0 fails each test with its message, not the file.)
let keep: Connection | null = null;
before(() => {
  keep = Connection.open(URI);
});
after(() => keep?.close());

async function defineFixture(name: string): Promise<void> {
  using src = Connection.open(`test://${join(fixturesDir(), "libvirt", "node.xml")}`);
  using d = src.lookupByName(name);
  const xml = d.xml(DomainXMLFlags.INACTIVE);
  using dst = Connection.open(URI);
  dst.defineXML(xml).free();
}

function liveXml(name: string): string {
  using c = Connection.open(URI);
  using d = c.lookupByName(name);
  return d.xml(DomainXMLFlags.INACTIVE);
}

test("setup then setup again (nothing changes), then teardown twice; a busy mount is reported", async () => {
  requireRoot("setup mounts a real tmpfs");
  await defineFixture("batch-off");
  const tmp = await mkdtemp(join(tmpdir(), "scaph-setup-"));
  const base = join(tmp, "scaphandre");
  const unitDir = join(tmp, "units");
  const { mkdir } = await import("node:fs/promises");
  await mkdir(unitDir);
  const out: string[] = [];
  const o = {
    domain: "batch-off",
    baseDir: base,
    size: "2m",
    transport: "9p" as const,
    live: false,
    dryRun: false,
    connect: URI,
    unitDir,
    print: (l: string) => out.push(l),
  };
  const dir = join(base, "batch-off");
  try {
    await setup(o);
    const m = await mountAt(dir);
    assert.equal(m?.fsType, "tmpfs");
    assert.match(m?.options ?? "", /size=2048k/);
    assert.equal((await stat(dir)).mode & 0o777, 0o755);
    assert.deepEqual(await readdir(unitDir), [mountUnitName(dir)]);
    assert.deepEqual(findShare(liveXml("batch-off")), { transport: "9p", sourceDir: dir, readonly: true });
    assert.ok(out.some((l) => l.includes("mount -t 9p -o trans=virtio,version=9p2000.L,ro scaphandre /var/scaphandre")));
    assert.ok(out.some((l) => l.includes("scaphandre /var/scaphandre 9p trans=virtio,version=9p2000.L,ro,nofail 0 0")));

    out.length = 0;
    await setup(o);
    assert.ok(
      out.some((l) => l.includes("nothing to change")),
      out.join("\n"),
    );
    assert.equal(
      out.some((l) => /^(create|mount|write|define)/.test(l)),
      false,
      out.join("\n"),
    );

    // A process inside the mount keeps it busy: teardown says so and leaves it.
    const holder = spawn("sleep", ["30"], { cwd: dir });
    try {
      await assert.rejects(teardown({ ...o }), /busy[\s\S]*fuser -vm/);
      assert.ok(await mountAt(dir));
    } finally {
      holder.kill();
      await new Promise((r) => holder.on("exit", r));
    }
    out.length = 0;
    await teardown({ ...o });
    assert.equal(await mountAt(dir), null);
    assert.deepEqual(await readdir(unitDir), []);
    assert.equal(findShare(liveXml("batch-off")), null);
    await assert.rejects(stat(dir), /ENOENT/);
    out.length = 0;
    await teardown({ ...o });
    assert.ok(out.some((l) => l.includes("nothing to remove")));
  } finally {
    if (await mountAt(dir)) await import("../../src/setup/mounts.js").then((m) => m.unmount(dir));
    await rm(tmp, { recursive: true, force: true });
  }
});

test("--dry-run changes nothing and prints the diff and the commands", async () => {
  await defineFixture("db-1");
  const tmp = await mkdtemp(join(tmpdir(), "scaph-dry-"));
  const out: string[] = [];
  try {
    await setup({
      domain: "db-1",
      baseDir: join(tmp, "b"),
      size: "5m",
      transport: "virtiofs",
      live: false,
      dryRun: true,
      connect: URI,
      unitDir: tmp,
      print: (l) => out.push(l),
    });
    const text = out.join("\n");
    assert.match(text, /\+ {4}<filesystem type="mount" accessmode="passthrough">/);
    assert.match(text, /\+ {4}<source type="memfd"\/>/);
    assert.match(text, /would mount -t tmpfs -o size=5m,mode=0755 tmpfs /);
    assert.equal(findShare(liveXml("db-1")), null);
    assert.deepEqual(await readdir(tmp), []);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test("errors: unknown domain lists the others, unsafe name, bad size, unreachable libvirt", async () => {
  await defineFixture("web-1");
  const base = {
    baseDir: "/nonexistent",
    size: "5m",
    transport: "9p" as const,
    live: false,
    dryRun: true,
    connect: URI,
    unitDir: "/nonexistent",
    print: () => {},
  };
  await assert.rejects(setup({ ...base, domain: "nope" }), /no domain named "nope" at test:\/\/\/default; domains there: .*web-1/);
  await assert.rejects(setup({ ...base, domain: "../etc" }), /refusing domain name/);
  await assert.rejects(setup({ ...base, domain: "web-1", size: "lots" }), /--size/);
  await assert.rejects(
    setup({ ...base, domain: "web-1", connect: "qemu+unix:///system?socket=/nonexistent/sock" }),
    /cannot connect to libvirt at qemu\+unix:\/\/\/system\?socket=\/nonexistent\/sock/,
  );
});

test("a base dir behind a symbolic link (/var/lib/libvirt on a data disk): setup twice stacks one mount, its unit names the real path, teardown unmounts it", async () => {
  requireRoot("setup mounts a real tmpfs");
  await defineFixture("db-1");
  const tmp = await mkdtemp(join(tmpdir(), "scaph-setup-link-"));
  const { mkdir, symlink, readFile } = await import("node:fs/promises");
  const real = join(tmp, "data", "libvirt");
  await mkdir(real, { recursive: true });
  await symlink(real, join(tmp, "libvirt")); // the operator's link
  const base = join(tmp, "libvirt", "scaphandre");
  const unitDir = join(tmp, "units");
  await mkdir(unitDir);
  const o = { domain: "db-1", baseDir: base, size: "2m", transport: "9p" as const, live: false, dryRun: false, connect: URI, unitDir, print: () => {} };
  const realDir = join(real, "scaphandre", "db-1");
  const mounts = async (): Promise<number> => (await readFile("/proc/self/mountinfo", "utf8")).split("\n").filter((l) => l.split(" ")[4] === realDir).length;
  try {
    await setup(o);
    await setup(o);
    assert.equal(await mounts(), 1, "one tmpfs, not two stacked");
    assert.deepEqual(await readdir(unitDir), [mountUnitName(realDir)]);
    assert.ok((await readFile(join(unitDir, mountUnitName(realDir)), "utf8")).includes(`Where=${realDir}`));
    assert.equal((await mountAt(join(base, "db-1")))?.fsType, "tmpfs", "found through the link too");
    await teardown({ ...o });
    assert.equal(await mounts(), 0);
    assert.deepEqual(await readdir(unitDir), []);
  } finally {
    const { execFileSync } = await import("node:child_process");
    for (let i = 0; i < 3 && (await mounts()) > 0; i++) execFileSync("umount", [realDir]);
    await rm(tmp, { recursive: true, force: true });
  }
});
