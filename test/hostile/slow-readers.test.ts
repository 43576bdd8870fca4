/**
 * Hostile inputs, round 3, item 6: 20,000 processes (a page of megabytes)
 * and clients that send GET and never read. Each step's page is one
 * Buffer that every response shares; responses held by clients that do
 * not read hold at most MAX_HELD_BYTES of pages, and a scrape past that is
 * answered 503, not buffered.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { MAX_HELD_BYTES, PrometheusExporter } from "@scaph/common/prometheus";
import type { ProcessSnapshot, Snapshot } from "@scaph/common";
import { waitFor } from "../helpers/processes.js";
import { scrape } from "../helpers/scrape.js";

function bigSnapshot(step: number): Snapshot {
  const processes: ProcessSnapshot[] = [];
  for (let pid = 1; pid <= 20_000; pid++) {
    processes.push({
      pid,
      comm: `worker-${pid % 97}`,
      exe: "/usr/bin/worker",
      cmdline: ["/usr/bin/worker", "--id", String(pid), "--config", "/etc/worker/a-rather-long-path.conf"],
      cpuTicks: 1,
      share: 1 / 20_000,
      energyUj: 1000 + step,
      powerUw: 500 + step,
      cpuPercent: 0.1,
      memoryBytes: 1e6,
      memoryVirtualBytes: 1e7,
    });
  }
  return {
    timestampS: step,
    intervalS: 1,
    valueSource: "powercap_rapl_pkg",
    estimated: false,
    host: { energyUj: 1e6, powerUw: 1e6 },
    sockets: [],
    zones: [],
    subDomains: [],
    busyTicks: 20_000,
    processCount: 20_000,
    processes,
    vms: [],
    incomingVms: [],
    containers: null,
    othersUj: 0,
    attributedUj: 0,
    hostStats: null,
    procFilesHeld: 0,
  };
}

test("20,000 processes and 200 clients that never read, over 5 steps: one page per step shared, at most 64 MiB held, RSS bounded, then served again", async () => {
  const ex = new PrometheusExporter({ address: "127.0.0.1", port: 0, suffix: "metrics", filter: { kind: "top", n: Infinity }, qemu: false });
  ex.write(bigSnapshot(0));
  const url = await ex.listen();
  const port = Number(new URL(url).port);
  const clients: Socket[] = [];
  const answers = { ok: 0, busy: 0 };
  try {
    const first = await scrape(url);
    const pageBytes = Buffer.byteLength(first);
    assert.ok(pageBytes > 4_000_000, `a page of ${pageBytes} bytes`);
    const rss0 = process.memoryUsage.rss();
    let peak = rss0;
    for (let step = 1; step <= 5; step++) {
      ex.write(bigSnapshot(step));
      for (let i = 0; i < 40; i++) {
        const c = connect(port, "127.0.0.1");
        c.on("error", () => {});
        // the status line is all it reads: then it stops reading for good
        c.once("data", (d: Buffer) => {
          c.pause();
          if (d.toString("latin1").startsWith("HTTP/1.1 200")) answers.ok++;
          else answers.busy++;
        });
        c.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        clients.push(c);
      }
      await waitFor("each client's answer to begin", () => (answers.ok + answers.busy >= step * 40 ? true : null), 60_000);
      const held = ex.heldPages();
      assert.ok(held.bytes <= MAX_HELD_BYTES + pageBytes * 1.1, `held ${held.bytes} bytes in ${held.pages} pages`);
      peak = Math.max(peak, process.memoryUsage.rss());
    }
    const held = ex.heldPages();
    console.log(
      `# page ${(pageBytes / 1e6).toFixed(1)} MB; 200 clients that never read: ${answers.ok} answered 200, ${answers.busy} 503; held ${held.pages} pages, ` +
        `${(held.bytes / 1048576).toFixed(0)} MiB by ${held.responses} responses; RSS ${(rss0 / 1048576).toFixed(0)} -> peak ${(peak / 1048576).toFixed(0)} MiB`,
    );
    assert.ok(answers.ok >= 40, "the clients of at least one step got their page");
    assert.ok(
      peak - rss0 < 256 * 1048576,
      `RSS grew ${((peak - rss0) / 1048576).toFixed(0)} MiB (a page each would be ${((200 * pageBytes) / 1048576).toFixed(0)} MiB)`,
    );
    for (const c of clients) c.destroy();
    await waitFor("the held pages to be let go", () => (ex.heldPages().responses === 0 ? true : null));
    assert.equal(ex.heldPages().bytes, 0);
    assert.match(await scrape(url), /scaph_process_power_consumption_microwatts\{pid="20000"/, "served again");
  } finally {
    for (const c of clients) c.destroy();
    await ex.close();
  }
});
