/**
 * Hostile inputs, round 3, item 4: an API server (the stand-in of
 * test/helpers/kube-api.ts: no API server runs on this machine) with
 * 10,000 pods of 40 containers on this node, and 10 MODIFIED events a
 * second. The list comes in pages; an event changes its pod alone, and
 * one that changes nothing a lookup returns rebuilds nothing. Steps go on,
 * scrapes are answered, SIGTERM ends it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import { copyFixture, removeTree } from "@scaph/test-support";
import { hostBin } from "../helpers/cli.js";
import { startStandInApi, standInNodeArgs } from "../helpers/kube-api.js";
import { waitFor } from "../helpers/processes.js";
import { sample, scrape, startPrometheusOf } from "../helpers/scrape.js";
import { timedStop } from "./rig.js";

const PODS = 10_000;
const CONTAINERS = 40;
const hex = (n: number, width: number): string => n.toString(16).padStart(width, "0");
const uidOf = (i: number): string => `${hex(i, 8)}-0000-4000-8000-${hex(i, 12)}`;
const cidOf = (i: number, c: number): string => `${hex(i, 32)}${hex(c, 32)}`;

/** A pod as small as the API's shape allows: what scaph reads. */
function minimalPod(i: number, rv: number, rename = ""): unknown {
  const statuses = [];
  for (let c = 0; c < CONTAINERS; c++) statuses.push({ name: `c${c}${rename}`, containerID: `containerd://${cidOf(i, c)}`, ready: true });
  return {
    metadata: { name: `p-${i}`, namespace: "flood", uid: uidOf(i), resourceVersion: String(rv) },
    spec: { nodeName: "node-a" },
    status: { containerStatuses: statuses },
  };
}

test("10,000 pods × 40 containers and 10 MODIFIED events a second: the list in pages, each event its pod's alone; steps go on, scrapes answered, SIGTERM ends it", async () => {
  const items: unknown[] = [];
  for (let i = 0; i < PODS; i++) items.push(minimalPod(i, 1000));
  let watchRes: ServerResponse | null = null;
  const api = await startStandInApi({
    list: () => ({ kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "1000" }, items }),
    watch: (_n, res) => {
      watchRes = res;
    },
  });
  const proc = await copyFixture("proc/basic");
  // pid 100 runs in container 3 of pod 7 (the cgroupfs driver's layout)
  await writeFile(join(proc, "100", "cgroup"), `0::/kubepods/besteffort/pod${uidOf(7)}/${cidOf(7, 3)}\n`);
  const { bg, url } = await startPrometheusOf(hostBin, [...standInNodeArgs(api, proc)]);
  let flood: NodeJS.Timeout | null = null;
  try {
    await waitFor("pod 7's labels", async () => ((await scrape(url)).includes('kubernetes_pod_name="p-7"') ? true : null), 120_000);
    const pages = api.requests.filter((r) => r.query.get("watch") !== "1");
    assert.ok(pages.length >= PODS / 500, `the list in ${pages.length} pages`);
    assert.ok(pages.every((r) => Number(r.query.get("limit")) > 0 && Number(r.query.get("limit")) <= 500));
    await waitFor("the watch", () => (watchRes ? true : null));

    // 10 events a second: pods' status changes (nothing a lookup returns)
    let rv = 1001;
    let sent = 0;
    flood = setInterval(() => {
      for (let k = 0; k < 10; k++) watchRes?.write(JSON.stringify({ type: "MODIFIED", object: minimalPod((rv * 7919) % PODS, rv++) }) + "\n");
      sent += 10;
    }, 1000);
    const cpu0 = await cpuTicks(bg.child.pid as number);
    const lastStep = async (): Promise<{ t: number; ms: number }> => {
      const t0 = Date.now();
      const body = await scrape(url);
      return { t: sample(body, "scaph_self_last_step_timestamp_seconds") ?? 0, ms: Date.now() - t0 };
    };
    const start = await lastStep();
    const scrapes: number[] = [];
    // ten more steps of 0.3 s while the events come: waited on, not timed
    await waitFor(
      "ten steps during the flood",
      async () => {
        const s = await lastStep();
        scrapes.push(s.ms);
        return s.t >= start.t + 10 * 0.3 - 0.01 ? true : null;
      },
      120_000,
    );
    await waitFor("50 events sent", () => (sent >= 50 ? true : null), 120_000);
    const cpu = (await cpuTicks(bg.child.pid as number)) - cpu0;

    // an event that does change what a lookup returns: pod 7's containers renamed
    watchRes!.write(JSON.stringify({ type: "MODIFIED", object: minimalPod(7, rv++, "-new") }) + "\n");
    await waitFor("the renamed container's label", async () => ((await scrape(url)).includes('container_names="c3-new"') ? true : null), 60_000);

    scrapes.sort((a, b) => a - b);
    const { ms, code } = await timedStop(bg);
    console.log(
      `# ${sent} events in the flood; scrapes p50 ${scrapes[Math.floor(scrapes.length / 2)]} ms, max ${scrapes[scrapes.length - 1]} ms (${scrapes.length}); ` +
        `${cpu} CPU ticks over the ten steps; SIGTERM to exit ${ms} ms`,
    );
    assert.equal(code, 0, bg.output());
  } finally {
    if (flood) clearInterval(flood);
    await bg.stop("SIGKILL");
    await api.close();
    await removeTree(proc);
  }
});

async function cpuTicks(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}
