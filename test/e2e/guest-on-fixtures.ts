import { copyFixture, PowercapFixture, ProcFixture, removeTree } from "@scaph/test-support";
import { guestBin } from "../helpers/cli.js";
import { freePort } from "../helpers/processes.js";
import { scrape, scrapeAfter, startExporter } from "../helpers/scrape.js";

/**
 * scaph-guest prometheus on copies of fixtures/powercap/vm-tree and
 * fixtures/proc/basic, scraped once, then after a step over which the tree
 * gained 3.5 J (package 3, its core 1, dram 0.5) and two processes worked
 * (50 and 25 of 100 busy ticks). stop() ends it and removes the copies.
 */
export async function guestExporterOnFixtures(): Promise<{ body: string; url: string; port: number; stop: () => Promise<void> }> {
  const tree = await copyFixture("powercap/vm-tree");
  const proc = await copyFixture("proc/basic");
  const port = await freePort();
  const { bg, url } = await startExporter(
    [guestBin, "prometheus", "-a", "127.0.0.1", "-p", String(port), "--step", "0.2", "--max-processes", "3", "--procfs-path", proc],
    {
      ...process.env,
      SCAPHANDRE_POWERCAP_PATH: tree,
    },
  );
  const stop = async (): Promise<void> => {
    await bg.stop();
    await removeTree(tree);
    await removeTree(proc);
  };
  try {
    await scrape(url);
    const power = new PowercapFixture(tree);
    await power.advance("intel-rapl:0", 3_000_000);
    await power.advance("intel-rapl:0:0", 1_000_000);
    await power.advance("intel-rapl:0:1", 500_000);
    const p = new ProcFixture(proc);
    await p.advanceBusy(100);
    await p.advanceProcess(100, 50);
    await p.advanceProcess(200, 25);
    return { body: await scrapeAfter(url, Date.now()), url, port, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
