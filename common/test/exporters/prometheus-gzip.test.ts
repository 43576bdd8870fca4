/** The metrics page gzipped once per step for clients that ask (Prometheus sends Accept-Encoding: gzip). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { get } from "node:http";
import { gunzipSync } from "node:zlib";
import { PrometheusExporter, acceptsGzip } from "@scaph/common/prometheus";
import type { ProcessSnapshot, Snapshot } from "@scaph/common";

function snapshot(step: number, n: number): Snapshot {
  const processes: ProcessSnapshot[] = [];
  for (let pid = 1; pid <= n; pid++) {
    processes.push({
      pid,
      comm: `w${pid % 13}`,
      exe: "/usr/bin/w",
      cmdline: ["/usr/bin/w", String(pid)],
      cpuTicks: 1,
      share: 1 / n,
      energyUj: 1000 + step + pid,
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
    busyTicks: n,
    processCount: n,
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

/** A raw GET (fetch would decode it): status, headers and the body's bytes. */
function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on("error", reject);
    }).on("error", reject);
  });
}

/** The page up to the families read when asked (this process's: they change between two scrapes). */
const stepPart = (page: string): string => page.slice(0, page.indexOf("# HELP scaph_self_"));

test("Accept-Encoding: gzip gets the page gzipped (one member for the step, one for the rest), the same text; without it, plain text", async () => {
  const ex = new PrometheusExporter({ address: "127.0.0.1", port: 0, suffix: "metrics", filter: { kind: "top", n: Infinity }, qemu: false });
  ex.write(snapshot(1, 2000));
  const url = await ex.listen();
  try {
    const plain = await rawGet(url, {});
    assert.equal(plain.headers["content-encoding"], undefined);
    const zipped = await rawGet(url, { "Accept-Encoding": "gzip, deflate" });
    assert.equal(zipped.status, 200);
    assert.equal(zipped.headers["content-encoding"], "gzip");
    assert.equal(Number(zipped.headers["content-length"]), zipped.body.length);
    const text = gunzipSync(zipped.body).toString("utf8");
    assert.equal(stepPart(text), stepPart(plain.body.toString("utf8")));
    assert.match(text, /^scaph_self_version\{version="[^"]+"\} 1$/m, "the second member (read when asked) is there too");
    assert.ok(zipped.body.length * 4 < plain.body.length, `gzipped ${zipped.body.length} bytes, plain ${plain.body.length}`);
    // a second client of the same step gets the same first member: the page was gzipped once
    const again = await rawGet(url, { "Accept-Encoding": "gzip" });
    const common = (a: Buffer, b: Buffer): number => {
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      return i;
    };
    assert.ok(common(zipped.body, again.body) > zipped.body.length * 0.9, "the step's member is the same bytes");
    // a new step: a new page
    ex.write(snapshot(2, 2000));
    const next = gunzipSync((await rawGet(url, { "Accept-Encoding": "gzip" })).body).toString("utf8");
    assert.notEqual(stepPart(next), stepPart(text));
    assert.equal(stepPart(next), stepPart((await rawGet(url, {})).body.toString("utf8")));
    // fetch (undici) asks for gzip and reads both members
    assert.equal(stepPart(await (await fetch(url)).text()), stepPart(next));
  } finally {
    await ex.close();
  }
});

test("acceptsGzip reads Accept-Encoding as RFC 9110 says", () => {
  assert.equal(acceptsGzip(undefined), false);
  assert.equal(acceptsGzip(""), false);
  assert.equal(acceptsGzip("gzip"), true);
  assert.equal(acceptsGzip("deflate, GZIP;q=0.5"), true);
  assert.equal(acceptsGzip("x-gzip"), true);
  assert.equal(acceptsGzip("gzip;q=0"), false);
  assert.equal(acceptsGzip("gzip; q=0.0"), false);
  assert.equal(acceptsGzip("identity, br"), false);
  assert.equal(acceptsGzip("gzipped"), false);
});
