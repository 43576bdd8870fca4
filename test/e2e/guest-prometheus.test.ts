import { test } from "node:test";
import assert from "node:assert/strict";
import { checkGolden, copyFixture, PowercapFixture, removeTree } from "@scaph/test-support";
import { guestBin } from "../helpers/cli.js";
import { freePort } from "../helpers/processes.js";
import { sample, scrape, scrapeAfter, startExporter } from "../helpers/scrape.js";
import { guestExporterOnFixtures } from "./guest-on-fixtures.js";

/** Series whose values depend on time or on this process: replaced by a placeholder in the golden file. */
function normalise(body: string): string {
  return (
    body
      .split("\n")
      .filter((l) => !/^(# (HELP|TYPE) )?scaph_self_/.test(l))
      // this machine's own filesystems: checked apart
      .filter((l) => !/^scaph_host_disk_/.test(l))
      .map((l) =>
        /^scaph_(host_power|socket_power|domain_power|process_power_consumption|process_cpu_usage)_/.test(l)
          ? l.replace(/ \S+$/, " <depends on the interval>")
          : l,
      )
      .map((l) => (/^scaph_host_energy_timestamp_seconds /.test(l) ? l.replace(/ \S+$/, " <the reading's time>") : l))
      .join("\n")
      .replace(/\n{3,}/g, "\n\n")
  );
}

test("scaph-guest prometheus on fixture roots: golden metrics (promtool checks them in guest-prometheus-promtool.system.test.ts)", async () => {
  const { body, url, port, stop } = await guestExporterOnFixtures();
  try {
    assert.equal(url, `http://127.0.0.1:${port}/metrics`);
    assert.equal(sample(body, "scaph_host_energy_microjoules"), 3_500_000);
    assert.equal(sample(body, "scaph_host_energy_joules_total"), 3.5);
    assert.equal(sample(body, "scaph_domain_energy_microjoules", 'domain_name="dram"'), 500_000);
    const res = await fetch(url);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.equal((await fetch(url.replace("/metrics", "/other"))).status, 404);
    await checkGolden("prometheus/guest-vm-tree.txt", normalise(body));
    // the disk series (this machine's filesystems, Scaphandre's labels): each total above its available space
    const disks = body.split("\n").filter((l) => l.startsWith("scaph_host_disk_total_bytes{"));
    for (const l of disks) {
      assert.match(
        l,
        /^scaph_host_disk_total_bytes\{disk_file_system="[^"]+",disk_mount_point="[^"]+",disk_type="(SSD|HDD|Unknown)",disk_is_removable="(true|false)",disk_name="[^"]*"\} \d+$/,
      );
      const labels = l.slice(l.indexOf("{"), l.indexOf("}") + 1);
      const avail = sample(body, "scaph_host_disk_available_bytes", ...labels.slice(1, -1).split(/,(?=disk_)/));
      assert.ok(avail !== null && avail <= Number(l.split(" ").at(-1)), l);
    }
    console.log(`# ${disks.length} filesystem(s) in the disk series`);
    assert.ok(sample(body, "scaph_host_energy_timestamp_seconds")! > 1.7e9, "the reading's Unix time");
  } finally {
    await stop();
  }
});

test("scrapes are never frozen: each serves the newest step of the loop, however often they come", async () => {
  const tree = await copyFixture("powercap/vm-tree");
  const port = await freePort();
  const { bg, url } = await startExporter([guestBin, "prometheus", "-a", "127.0.0.1", "-p", String(port), "--step", "0.2", "--powercap-path", tree]);
  try {
    const power = new PowercapFixture(tree);
    let last = -1;
    for (let i = 0; i < 4; i++) {
      await power.advance("intel-rapl:0", 1_000_000);
      const v = sample(await scrapeAfter(url, Date.now()), "scaph_host_energy_microjoules") ?? -1;
      assert.ok(v > last, `scrape ${i}: ${v} after ${last}`);
      last = v;
    }
    assert.equal(last, 4_000_000);
    // Many scrapes between two steps: all answered at once, from the same step.
    const bodies = await Promise.all(Array.from({ length: 20 }, () => scrape(url)));
    assert.ok(bodies.every((b) => sample(b, "scaph_host_energy_microjoules") === 4_000_000));
  } finally {
    await bg.stop();
    await removeTree(tree);
  }
});
