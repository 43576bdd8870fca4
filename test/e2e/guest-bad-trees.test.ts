/** scaph-guest prometheus on a tree that goes bad and comes back: every change logged or counted, never a crash, a negative power or a spike. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { copyFixture, removeTree, writeAtomic } from "@scaph/test-support";
import { guestBin } from "../helpers/cli.js";
import { freePort, waitFor } from "../helpers/processes.js";
import { sample, scrape, startExporter } from "../helpers/scrape.js";

test("bad trees: empty, garbage, no max, replaced mid-run: logged, never a crash or a negative power", async () => {
  const tree = await copyFixture("powercap/vm-tree");
  const port = await freePort();
  const { bg, url } = await startExporter([guestBin, "prometheus", "-a", "127.0.0.1", "-p", String(port), "--step", "0.2", "--powercap-path", tree]);
  const e = join(tree, "intel-rapl:0", "energy_uj");
  try {
    const powers: number[] = [];
    // Each change is given two steps of the loop to be read (a new measurement) or refused (a skipped step).
    const skips = (): number => (bg.output().match(/step skipped/g) ?? []).length;
    const stepDone = async (): Promise<void> => {
      const [since, skipped] = [Date.now(), skips()];
      await waitFor("a step of the guest's loop", async () => {
        const t = sample(await scrape(url), "scaph_self_last_step_timestamp_seconds");
        return (t !== null && t * 1000 > since) || skips() > skipped ? true : null;
      });
    };
    const check = async (): Promise<void> => {
      await stepDone();
      await stepDone();
      const body = await scrape(url);
      const p = sample(body, "scaph_host_power_microwatts");
      if (p !== null) powers.push(p);
    };
    await check();
    await writeAtomic(e, "");
    await check();
    await writeAtomic(e, "garbage\n");
    await check();
    await writeAtomic(e, "8000000\n");
    await check();
    await rm(join(tree, "intel-rapl:0", "max_energy_range_uj"));
    await writeAtomic(e, "100\n"); // a decrease, whatever the max
    await check();
    // The whole tree replaced by a lower one (a host agent that started over).
    await rm(join(tree, "intel-rapl:0"), { recursive: true });
    await check();
    const { mkdir } = await import("node:fs/promises");
    await mkdir(join(tree, "intel-rapl:0"));
    await writeAtomic(join(tree, "intel-rapl:0", "name"), "package-0\n");
    await writeAtomic(join(tree, "intel-rapl:0", "max_energy_range_uj"), "262143328850\n");
    await writeAtomic(e, "50\n");
    await check();
    const before = sample(await scrape(url), "scaph_host_energy_microjoules") ?? NaN;
    await writeAtomic(e, "1000050\n");
    await check();
    const after = sample(await scrape(url), "scaph_host_energy_microjoules") ?? NaN;
    assert.equal(bg.child.exitCode, null, "still running");
    assert.ok(
      powers.every((p) => p >= 0),
      powers.join(", "),
    );
    assert.equal(after - before, 1_000_000, "measures again after the bad spell: the last joule is counted, once");
    const log = bg.output();
    assert.match(log, /Malformed .*energy_uj/);
    assert.match(log, /step skipped/);
    const energy = sample(await scrape(url), "scaph_host_energy_microjoules") ?? NaN;
    assert.ok(energy <= 8_000_000 - 7_000_000 + 1_000_000 + 1_000_000, `no spike: ${energy} µJ in all`);
  } finally {
    await bg.stop();
    await removeTree(tree);
  }
});
