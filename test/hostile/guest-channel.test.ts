/**
 * scaph-guest over a channel whose host is slow to speak: on a real virtio
 * port the guest's driver drops what the host sends while the port is
 * closed, so the first line may come seconds after the agent opens it. The
 * exporter waits for it, alive, then serves.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { open } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeMessage } from "@scaph/common";
import type { ChannelMessage } from "@scaph/common";
import { guestBin } from "../helpers/cli.js";
import { freePort, waitFor } from "../helpers/processes.js";
import { sample, scrape, startExporter } from "../helpers/scrape.js";
import { mkfifo } from "./rig.js";

const line = (seq: number, uj: number): string =>
  encodeMessage({
    v: 1,
    epoch: "slowhost",
    seq,
    t: Date.now() / 1000,
    t0: Date.now() / 1000 - 1,
    step_s: 1,
    zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: uj, max_energy_range_uj: 262143328850 }],
  } satisfies ChannelMessage);

for (const exporter of ["prometheus", "json"] as const) {
  test(`scaph-guest ${exporter} over a port whose first line comes 3 s after it opened: it waits, alive, then reports`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "scaph-slow-chan-"));
    const fifo = join(dir, "port");
    mkfifo(fifo);
    const tree = join(dir, "tree");
    // The host: it opens its end when the agent opens the port, says nothing for 3 s, then a line a second
    // until the test is done.
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    let ended: () => void = () => {};
    const host = (async () => {
      const fh = await open(fifo, "w");
      if (finished) return void (await fh.close());
      let seq = 0;
      const silence = setTimeout(() => {
        timer = setInterval(() => void fh.write(line(++seq, seq * 5_000_000)).catch(() => {}), 1000);
      }, 3000);
      await new Promise<void>((r) => (ended = r));
      clearTimeout(silence);
      clearInterval(timer);
      await fh.close();
    })();
    const common = ["--channel-device", fifo, "--powercap-path", tree, "--no-tmpfs", "-s", "1"];
    try {
      if (exporter === "prometheus") {
        const port = await freePort();
        const { bg, url } = await startExporter([guestBin, "prometheus", ...common, "-p", String(port), "-a", "127.0.0.1"]);
        try {
          const body = await waitFor("the guest's first measurement", async () => {
            const b = await scrape(url);
            return sample(b, "scaph_host_energy_microjoules") !== null ? b : null;
          });
          assert.ok((sample(body, "scaph_host_energy_microjoules") ?? 0) > 0, body.slice(0, 2000));
          assert.equal(bg.child.exitCode, null);
        } finally {
          await bg.stop();
        }
      } else {
        const { runNode } = await import("../helpers/cli.js");
        const r = await runNode(guestBin, ["json", ...common, "-t", "6"]);
        assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
        const reports = JSON.parse(r.stdout) as { host: { consumption: number } }[];
        assert.ok(reports.length >= 1 && reports.some((x) => x.host.consumption > 0), r.stdout.slice(0, 2000));
      }
    } finally {
      finished = true;
      ended();
      // A writer still waiting for a reader (the agent never opened the port) is let go.
      const { closeSync, constants, openSync } = await import("node:fs");
      closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
      await host.catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test("a port that never stops delivering valid lines: the receiver still yields, so SIGTERM ends it at once", async () => {
  const { startBackground, waitFor: waitUntil } = await import("../helpers/processes.js");
  const { timedStop } = await import("./rig.js");
  const { stat } = await import("node:fs/promises");
  const dir = await mkdtemp(join(tmpdir(), "scaph-chan-flood-"));
  const fifo = join(dir, "port");
  mkfifo(fifo);
  const tree = join(dir, "tree");
  const agent = startBackground(process.execPath, [guestBin, "channel", "--path", tree, "--channel-device", fifo, "--no-tmpfs"]);
  // The flood: valid lines, as fast as the pipe takes them, until the test ends it.
  let flooding = true;
  const flood = (async () => {
    const fh = await open(fifo, "w");
    let seq = 0;
    while (flooding) {
      const batch = Array.from({ length: 200 }, () => line(++seq, seq)).join("");
      await fh.write(batch).catch(() => (flooding = false));
    }
    await fh.close().catch(() => {});
  })();
  try {
    await waitUntil("the receiver to write its state", async () => ((await stat(join(tree, ".scaph-channel.json")).catch(() => null)) ? true : null));
    assert.ok(flooding, "the flood is going when SIGTERM is sent");
    const stopped = await timedStop(agent);
    // stop() sends SIGKILL after 5 s: an exit code (not a kill) means it ended on SIGTERM, mid-flood.
    assert.notEqual(stopped.code, null, `killed after ${stopped.ms} ms: SIGTERM was not handled during the flood`);
  } finally {
    flooding = false;
    await agent.stop("SIGKILL");
    await flood.catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
});
