/**
 * The prometheus-push exporter against Debian's prometheus-pushgateway, for
 * real: the sink's series under job and instance, and scaph-host
 * prometheus-push pushing a simulated host of known power every step.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { createLogger } from "@scaph/common";
import { PrometheusPushSink } from "@scaph/common/prometheus-push";
import { KNOWN_HOST, knownHost, requireCommand } from "@scaph/test-support";
import { hostBin } from "../helpers/cli.js";
import { freePort, startBackground, waitFor } from "../helpers/processes.js";
import { sample } from "../helpers/scrape.js";
import { cleanups, near, simulatedHost, started, WATTS } from "./push-rig.js";

/**
 * Debian's Pushgateway on a free port, ready. No persistence file: Debian's
 * default (/var/lib/prometheus/pushgateway.data) would keep these pushes for
 * the machine's own Pushgateway, and serve another run's to this one.
 */
async function pushgateway(): Promise<string> {
  const bin = requireCommand("prometheus-pushgateway", "prometheus-pushgateway");
  const port = await freePort();
  started(startBackground(bin, [`--web.listen-address=127.0.0.1:${port}`, "--persistence.file="]));
  const url = `http://127.0.0.1:${port}`;
  await waitFor("the Pushgateway to be ready", async () => ((await fetch(`${url}/-/ready`).catch(() => null))?.ok ? true : null), 20_000);
  return url;
}

test("prometheus-push to Debian's Pushgateway: our series under job and instance; the host's power and its processes' add up", async () => {
  const url = await pushgateway();
  const h = await knownHost();
  cleanups.push(() => h.cleanup());
  const sink = new PrometheusPushSink({
    base: new URL(url),
    suffix: "metrics",
    job: "scaph-test",
    instance: "hv-7",
    log: createLogger(),
    filter: { kind: "top", n: 10 },
    qemu: false,
  });
  await h.step();
  sink.write(await h.step());
  await sink.close();
  assert.equal(sink.health.failures, 0);
  const body = await (await fetch(`${url}/metrics`)).text();
  const labels = ['job="scaph-test"', 'instance="hv-7"'];
  const host = sample(body, "scaph_host_power_microwatts", ...labels);
  assert.ok(near(host, KNOWN_HOST.hostUw, 0.03), `host ${host} µW`);
  let sum = 0;
  for (const [pid, uw] of KNOWN_HOST.processUw) {
    const v = sample(body, "scaph_process_power_consumption_microwatts", ...labels, `pid="${pid}"`);
    assert.equal(v, uw, `process ${pid}`);
    sum += v ?? 0;
  }
  assert.equal(sum, KNOWN_HOST.hostUw);
  // the Pushgateway's own record of the push
  assert.ok(sample(body, "push_time_seconds", ...labels) !== null);
});

test("scaph-host prometheus-push: pushes every --step, instance = this host's name", async () => {
  const url = await pushgateway();
  const tree = await simulatedHost();
  const port = new URL(url).port;
  started(startBackground(process.execPath, [hostBin, "prometheus-push", "-H", "127.0.0.1", "-p", port, "-s", "1", "--powercap-path", tree]));
  const labels = ['job="scaphandre"', `instance="${hostname()}"`];
  const v = await waitFor(
    "a pushed host power",
    async () => {
      const b = await (await fetch(`${url}/metrics`)).text();
      const p = sample(b, "scaph_host_power_microwatts", ...labels);
      return p && p > 0 ? p : null;
    },
    20_000,
  );
  assert.ok(near(v, WATTS * 1e6, 0.1), `host ${v} µW`);
});
