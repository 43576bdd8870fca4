/** The metrics endpoint against clients that never finish and VMs that never stop coming. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { PrometheusExporter } from "@scaph/common/prometheus";
import type { Snapshot, VmSnapshot } from "@scaph/common";
import { copyFixture, removeTree } from "@scaph/test-support";
import { guestBin } from "../helpers/cli.js";
import { freePort, sleep } from "../helpers/processes.js";
import { scrape, startExporter } from "../helpers/scrape.js";
import { timedStop } from "./rig.js";

test("slow clients (a byte a second, or silent) never keep the exporter from stopping within 3 s", async () => {
  const tree = await copyFixture("powercap/vm-tree");
  const port = await freePort();
  const { bg, url } = await startExporter([guestBin, "prometheus", "-a", "127.0.0.1", "-p", String(port), "--powercap-path", tree]);
  const clients: Socket[] = [];
  try {
    await scrape(url);
    for (let i = 0; i < 20; i++) {
      const c = connect(port, "127.0.0.1");
      c.on("error", () => {});
      clients.push(c);
    }
    await sleep(300);
    const request = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    let i = 0;
    const drip = setInterval(() => {
      for (const c of clients.slice(0, 10)) c.write(request[i % request.length] as string);
      i++;
    }, 1000);
    try {
      await sleep(2500);
      assert.equal((await scrape(url)).includes("scaph_host_power_microwatts"), true, "still serving others meanwhile");
      const { code } = await timedStop(bg);
      assert.equal(code, 0, bg.output());
    } finally {
      clearInterval(drip);
    }
  } finally {
    for (const c of clients) c.destroy();
    await bg.stop("SIGKILL");
    await removeTree(tree);
  }
});

/** A snapshot with nothing in it but time and these VMs. */
function snapshot(vms: string[]): Snapshot {
  const vm = (name: string): VmSnapshot => ({
    key: `name:${name}`,
    name,
    uuid: null,
    libvirt: false,
    pid: 1,
    cpuSource: "process",
    cpuTicks: 1,
    share: 0.1,
    energyUj: 1_000_000,
    powerUw: 1_000_000,
    zonesUj: new Map(),
  });
  return {
    timestampS: 1,
    intervalS: 1,
    valueSource: "powercap_rapl_pkg",
    estimated: false,
    host: { energyUj: 1, powerUw: 1 },
    sockets: [],
    zones: [],
    subDomains: [],
    busyTicks: 0,
    processCount: 0,
    processes: [],
    vms: vms.map(vm),
    incomingVms: [],
    containers: null,
    othersUj: 0,
    attributedUj: 0,
    hostStats: null,
    procFilesHeld: 0,
  };
}

test("VMs that came and went leave the exposition after a few steps: 1,500 of them leave a handful of series", () => {
  const ex = new PrometheusExporter({ address: "127.0.0.1", port: 0, suffix: "metrics", filter: { kind: "top", n: 5 }, qemu: true });
  for (let i = 0; i < 1500; i++) ex.write(snapshot([`vm-${i}`, "stays"]));
  const body = ex.exposition();
  const vmSeries = body.split("\n").filter((l) => l.startsWith("scaph_vm_energy_joules_total{"));
  assert.ok(vmSeries.length <= 5, `${vmSeries.length} series:\n${vmSeries.slice(0, 10).join("\n")}`);
  assert.ok(vmSeries.some((l) => l.includes('vmname="stays"')));
  assert.ok(vmSeries.some((l) => l.includes('vmname="vm-1499"')));
  assert.ok(!vmSeries.some((l) => l.includes('vmname="vm-1"')));
});
