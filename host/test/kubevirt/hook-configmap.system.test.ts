/**
 * The KubeVirt hook as a ConfigMap (deploy/helm/scaph/files/onDefineDomain.py,
 * which the chart renders with `kubevirt: true`): KubeVirt's sidecar-shim
 * image runs it with Python 3 and its standard library. No KubeVirt runs
 * here: it is run as the sidecar-shim runs a hook (`--vmi JSON --domain
 * XML`, stdout the new XML) by the machine's python3, on the XML that stands
 * in for virt-launcher's (fixtures/kubevirt). Its output must be the same
 * document as scaph-host's own hook gives (kubevirt-pod.system.test.ts boots
 * that one in a stand-in pod), and fail the same safe way.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { DOMParser } from "@xmldom/xmldom";
import type { Element, Node } from "@xmldom/xmldom";
import { fixturesDir, requireCommand } from "@scaph/test-support";
import { findChannel } from "../../src/vm/domain-xml.js";
import { onDefineDomain } from "../../src/kubevirt/hook.js";

const here = dirname(fileURLToPath(import.meta.url));
const script = resolve(here, "../../../../deploy/helm/scaph/files/onDefineDomain.py");
const domain = readFileSync(join(fixturesDir(), "kubevirt", "domain.xml"), "utf8");
const vmi = readFileSync(join(fixturesDir(), "kubevirt", "vmi.json"), "utf8");

function runPython(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(requireCommand("python3", "python3"), [script, ...args], { encoding: "utf8" });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** A document as a canonical string: elements, attributes sorted, text; what a parser (KubeVirt's) reads of it. */
function canonical(xml: string): string {
  const walk = (n: Node): string => {
    if (n.nodeType === 3) return (n.nodeValue ?? "").trim();
    if (n.nodeType !== 1) return "";
    const el = n as Element;
    const attrs = Array.from({ length: el.attributes.length }, (_, i) => el.attributes.item(i))
      .map((a) => `${a?.name}=${JSON.stringify(a?.value)}`)
      .sort()
      .join(" ");
    const kids = Array.from({ length: el.childNodes.length }, (_, i) => el.childNodes.item(i));
    return `<${el.nodeName} ${attrs}>${kids.map((k) => (k ? walk(k) : "")).join("")}</${el.nodeName}>`;
  };
  const root = new DOMParser().parseFromString(xml, "text/xml").documentElement;
  assert.ok(root, "a document");
  return walk(root);
}

test("the ConfigMap's hook (Python) gives the same domain as scaph-host's hook: the channel in bind mode in the VMI's private directory, the rest kept", () => {
  const py = runPython(["--vmi", vmi, "--domain", domain]);
  assert.equal(py.status, 0, py.stderr);
  const ts = onDefineDomain(vmi, domain);
  assert.equal(ts.changed, true);
  assert.equal(canonical(py.stdout), canonical(ts.xml));
  assert.deepEqual(findChannel(py.stdout), { path: "/var/run/kubevirt-private/5d6e7f80-0000-4000-8000-000000000001/scaph-energy.sock", state: null });
  assert.match(py.stderr, /add <channel> virtio org\.scaph\.energy\.0 at \/var\/run\/kubevirt-private\//);
  // without a virtio-serial controller, and without <devices> at all: the same as scaph-host's
  for (const bare of [domain.replace(/\s*<controller type="virtio-serial"[^>]*><\/controller>/, ""), "<domain type='kvm'><name>ns_vmi</name></domain>\n"]) {
    assert.equal(canonical(runPython(["--vmi", vmi, "--domain", bare]).stdout), canonical(onDefineDomain(vmi, bare).xml));
  }
});

test("the ConfigMap's hook is idempotent, and what it cannot read or must not change comes out byte for byte, the reason on stderr, exit 0", () => {
  const once = runPython(["--vmi", vmi, "--domain", domain]).stdout;
  const twice = runPython(["--vmi", vmi, "--domain", once]);
  assert.equal(twice.stdout, once);
  assert.match(twice.stderr, /left unchanged: it already has scaph's channel/);
  const cases: [string, string, RegExp][] = [
    [vmi, "<domain><name>x</name>", /left unchanged: not a libvirt domain XML/],
    [vmi, "not xml at all", /left unchanged: not a libvirt domain XML/],
    [vmi, "<network><name>x</name></network>", /left unchanged: not a libvirt domain XML/],
    [
      vmi,
      `<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><domain><name>&b;</name></domain>`,
      /left unchanged: not a libvirt domain XML: it has a DOCTYPE/,
    ],
    ["{not json", domain, /no VMI with a metadata\.uid/],
    [JSON.stringify({ metadata: { uid: "../../etc" } }), domain, /no VMI with a metadata\.uid/],
    ["[]", domain, /no VMI with a metadata\.uid/],
  ];
  for (const [v, x, why] of cases) {
    const r = runPython(["--vmi", v, "--domain", x]);
    assert.equal(r.status, 0, `${x.slice(0, 30)}: ${r.stderr}`);
    assert.equal(r.stdout, x, `${x.slice(0, 30)}: unchanged`);
    assert.match(r.stderr, why);
  }
  const none = runPython(["--vmi", vmi]);
  assert.equal(none.status, 0);
  assert.equal(none.stdout, "");
  assert.match(none.stderr, /no --domain/);
});
