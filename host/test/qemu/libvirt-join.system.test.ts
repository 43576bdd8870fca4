import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@scaph/common";
import { PrometheusExporter } from "@scaph/common/prometheus";
import { fixturesDir, promtoolProblems } from "@scaph/test-support";
import { libVersion } from "@scaph/libvirt";
import { LibvirtDomains } from "../../src/qemu/libvirt-source.js";
import { qemuRig } from "./rig.js";

// LibvirtDomains logs and goes on without libvirt (as the daemon must); these tests need it, and say so.
const requireLibvirt = (): unknown => libVersion();

test("VMs are joined with libvirt's running domains by UUID, then by name", async () => {
  requireLibvirt();
  const lines: string[] = [];
  const lv = new LibvirtDomains(`test://${join(fixturesDir(), "libvirt", "node.xml")}`, createLogger({ level: "info", write: (l) => lines.push(l) }));
  const q = await qemuRig({ libvirt: lv });
  try {
    const s = await q.step();
    const by = new Map(s.vms.map((v) => [v.name, v]));
    assert.equal(by.get("web-1")?.libvirt, true);
    assert.equal(by.get("odd,name")?.libvirt, true);
    assert.equal(by.get("rhel-vm")?.libvirt, false);
    assert.equal(by.get("plainvm")?.libvirt, false);
  } finally {
    await lv.close();
    await q.cleanup();
  }
});

test("libvirt unreachable: logged once, discovery goes on from /proc; used again when it returns", async () => {
  requireLibvirt();
  const dir = await mkdtemp(join(tmpdir(), "scaph-lv-"));
  const node = join(dir, "node.xml");
  const lines: string[] = [];
  const log = createLogger({ level: "info", write: (l) => lines.push(l) });
  const lv = new LibvirtDomains(`test://${node}`, log, 2000);
  /** A list now, as the daemon's steps ask for one in the background, and what it found. */
  const listed = async (): Promise<typeof lv.latest> => {
    await lv.refresh();
    return lv.latest;
  };
  try {
    assert.equal(await listed(), null);
    assert.equal(await listed(), null);
    assert.equal(lines.filter((l) => l.includes("unreachable")).length, 1);
    await copyFile(join(fixturesDir(), "libvirt", "node.xml"), node);
    const doms = await listed();
    assert.deepEqual(doms?.map((d) => d.name).sort(), ["db-1", "odd,name", "web-1"]);
    assert.ok(lines.some((l) => l.includes("is back")));
  } finally {
    await lv.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("an OpenStack Nova domain: its instance and project names label the VM's series, beside its uuid", async () => {
  requireLibvirt();
  const dir = await mkdtemp(join(tmpdir(), "scaph-nova-"));
  const node = join(dir, "node.xml");
  const xml = await readFile(join(fixturesDir(), "libvirt", "node.xml"), "utf8");
  // Nova's metadata as Nova writes it (nova 1.1); a tenant's name with a quote and a newline-free unicode
  const nova = `<metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
    <nova:package version="27.1.0"/><nova:name>web "front" é</nova:name><nova:flavor name="m1.small"><nova:memory>2048</nova:memory></nova:flavor>
    <nova:owner><nova:user uuid="u1">alice</nova:user><nova:project uuid="p1">shop</nova:project></nova:owner></nova:instance></metadata>`;
  // and a hostile one: a bidi override in the project's name gives no label rather than a misleading one
  const hostile = `<metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>db</nova:name>
    <nova:owner><nova:project uuid="p2">evil\u202Eadmin</nova:project></nova:owner></nova:instance></metadata>`;
  await writeFile(node, xml.replace(/(<name>web-1<\/name>)/, `$1${nova}`).replace(/(<name>odd,name<\/name>)/, `$1${hostile}`));
  const lv = new LibvirtDomains(`test://${node}`, createLogger({ level: "error", write: () => {} }), 5000, join(dir, "no-channel-dir"));
  const q = await qemuRig({ libvirt: lv, keepProcesses: true }); // a Prometheus exporter reads them, as with --prometheus
  try {
    await q.step();
    const s = await q.step();
    const web = s.vms.find((v) => v.name === "web-1");
    assert.deepEqual(web?.labels, { nova_instance: 'web "front" é', nova_project: "shop" });
    assert.deepEqual(s.vms.find((v) => v.name === "odd,name")?.labels, { nova_instance: "db" });
    assert.equal(s.vms.find((v) => v.name === "rhel-vm")?.labels, undefined, "no Nova metadata, no Nova labels");
    const prom = new PrometheusExporter({ address: "127.0.0.1", port: 0, suffix: "metrics", qemu: true, filter: { kind: "top", n: 5 } });
    prom.write(s.snapshot);
    const body = prom.exposition();
    assert.match(
      body,
      /scaph_vm_power_microwatts\{vmname="web-1",uuid="11111111-2222-3333-4444-555555555501",nova_instance="web \\"front\\" é",nova_project="shop"\} \d+/,
    );
    assert.deepEqual(promtoolProblems(body), []);
  } finally {
    await lv.close();
    await q.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
