#!/usr/bin/env node
// Benchmark: list 100 domains of a libvirt test-driver node with their XML.
// Baseline, measured in the same run: virsh (libvirt's C client) doing the
// same work in one process ("list --all" then "dumpxml" of each domain).
// Usage: npm run build && node bench/libvirt-list.mjs [rounds]
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AsyncConnection, Connection } from "../libvirt/dist/src/index.js";

const N = 100;
const rounds = Number(process.argv[2] ?? 20);
const dir = mkdtempSync(join(tmpdir(), "scaph-bench-"));
const node = join(dir, "node.xml");
const uuid = (i) => `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`;
const doms = Array.from({ length: N }, (_, i) =>
  `<domain type="test"><name>vm-${i}</name><uuid>${uuid(i)}</uuid><memory>131072</memory><vcpu>1</vcpu>` +
  `<os><type arch="x86_64">hvm</type></os><devices><disk type="file" device="disk"><source file="/img/vm-${i}.qcow2"/>` +
  `<target dev="vda" bus="virtio"/></disk></devices></domain>`,
).join("\n");
writeFileSync(node, `<node><cpu><mhz>3000</mhz><model>i686</model><active>4</active><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu><memory>16777216</memory>${doms}</node>`);
const uri = `test://${node}`;

function ms(f) {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
async function msAsync(f) {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// scaph, synchronous binding: open, list, XML of each, free, close.
const sync = [];
for (let r = 0; r < rounds; r++) {
  sync.push(
    ms(() => {
      const c = Connection.openReadOnly(uri);
      let bytes = 0;
      for (const d of c.listAllDomains()) {
        bytes += d.xml().length;
        d.free();
      }
      c.close();
      if (bytes < N * 100) throw new Error("short XML");
    }),
  );
}

// scaph, worker-thread binding: list with info, then XML of each by UUID.
const asyncT = [];
for (let r = 0; r < rounds; r++) {
  asyncT.push(
    await msAsync(async () => {
      const c = await AsyncConnection.open(uri, { readOnly: true });
      const list = await c.listDomains();
      for (const d of list) await c.domainXml(d.uuid);
      await c.close();
    }),
  );
}

// Baseline: virsh, one process doing the same work.
const script = ["list --all --name", ...Array.from({ length: N }, (_, i) => `dumpxml vm-${i}`)].join(" ; ");
const virsh = [];
for (let r = 0; r < rounds; r++) virsh.push(ms(() => execFileSync("virsh", ["-r", "-c", uri, script], { stdio: ["ignore", "pipe", "ignore"] })));
rmSync(dir, { recursive: true, force: true });

const base = median(virsh);
const row = (name, xs) => `| ${name} | ${median(xs).toFixed(2)} | ${((median(xs) * 1000) / N).toFixed(1)} | ${(median(xs) / base).toFixed(2)} |`;
console.log(`libvirt ${execFileSync("virsh", ["--version"]).toString().trim()}, ${N} domains, median of ${rounds} rounds\n`);
console.log("| what | ms per round | µs per domain | ratio to virsh |");
console.log("| --- | --- | --- | --- |");
console.log(row("virsh list + dumpxml (baseline)", virsh));
console.log(row("scaph Connection (sync)", sync));
console.log(row("scaph AsyncConnection (worker)", asyncT));
