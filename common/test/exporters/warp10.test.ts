/** The warp10 exporter against an HTTP server started here that checks the token and parses every GTS line. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger } from "../../src/index.js";
import { gtsLines, Warp10Sink } from "../../src/exporters/push/warp10.js";
import { MetricsModel } from "../../src/exporters/metrics.js";
import { KNOWN_HOST, knownHost } from "@scaph/test-support";

interface Series {
  ts: number;
  cls: string;
  labels: Record<string, string>;
  value: number;
}

/** Warp 10's update endpoint as far as the exporter sees it: a 403 for a wrong token, a 400 for a line it cannot parse. */
async function warp10(token: string): Promise<{ url: URL; series: Series[]; requests: number; close(): Promise<void> }> {
  const series: Series[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString("utf8")));
    req.on("end", () => {
      requests++;
      if (req.method !== "POST" || req.url !== "/api/v0/update") return void res.writeHead(404).end();
      if (req.headers["x-warp10-token"] !== token) return void res.writeHead(403).end("Invalid write token.\n");
      for (const line of body.split("\n").filter(Boolean)) {
        const m = /^(\d+)\/\/ ([^{} ]+)\{([^{} ]*)\} (-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)$/.exec(line);
        if (!m) return void res.writeHead(400).end(`cannot parse: ${line}`);
        const labels = Object.fromEntries(
          (m[3] ?? "")
            .split(",")
            .filter(Boolean)
            .map((kv) => kv.split("=").map(decodeURIComponent) as [string, string]),
        );
        series.push({ ts: Number(m[1]), cls: decodeURIComponent(m[2] ?? ""), labels, value: Number(m[4]) });
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    series,
    get requests() {
      return requests;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

test("GTS lines: one timestamp, class and labels percent-encoded (spaces, slashes), values doubles", async () => {
  const h = await knownHost();
  try {
    await h.step();
    const model = new MetricsModel({ filter: { kind: "top", n: 10 }, qemu: false });
    model.update(await h.step());
    const lines = gtsLines(model, 1_700_000_000_000_000);
    assert.ok(lines.length > 10);
    for (const l of lines)
      assert.match(
        l,
        /^1700000000000000\/\/ [A-Za-z0-9_%.~-]+\{([A-Za-z0-9_%.~!*'()-]+=[A-Za-z0-9_%.~!*'()-]*)?(,[A-Za-z0-9_%.~!*'()-]+=[A-Za-z0-9_%.~!*'()-]*)*\} -?\d+\.\d+$|^1700000000000000\/\/ \S+\{\S*\} -?\d+(\.\d+)?e[+-]\d+$/,
      );
    const nginx = lines.find((l) => l.includes("pid=100,"));
    assert.match(nginx ?? "", /exe=nginx,/);
    assert.match(nginx ?? "", /cmdline=nginx%3A%20master%20process/);
  } finally {
    await h.cleanup();
  }
});

test("warp10: every series in one POST with the token; the host's power and its processes' add up", async () => {
  const w = await warp10("s3cret");
  const h = await knownHost();
  const lines: string[] = [];
  const sink = new Warp10Sink({
    base: w.url,
    token: "s3cret",
    log: createLogger({ level: "debug", write: (l) => lines.push(l) }),
    filter: { kind: "top", n: 10 },
    qemu: false,
  });
  try {
    await h.step();
    const s = await h.step();
    sink.write(s);
    await sink.close();
    assert.equal(w.requests, 1);
    assert.equal(sink.health.sent, w.series.length);
    const host = w.series.find((x) => x.cls === "scaph_host_power_microwatts");
    assert.ok(host && Math.abs(host.value - KNOWN_HOST.hostUw) <= 0.03 * KNOWN_HOST.hostUw, `host ${host?.value}`);
    assert.deepEqual(host.labels, { value_source: "powercap_rapl_pkg" });
    assert.equal(host.ts, Math.round(s.timestampS * 1e6));
    const procs = w.series.filter((x) => x.cls === "scaph_process_power_consumption_microwatts");
    for (const [pid, uw] of KNOWN_HOST.processUw) assert.equal(procs.find((p) => p.labels.pid === String(pid))?.value, uw);
    assert.equal(
      procs.reduce((n, p) => n + p.value, 0),
      KNOWN_HOST.hostUw,
    );
    // an exe (Scaphandre's: the process name) and a cmdline with spaces, slashes and parentheses came through the encoding whole
    assert.ok(
      procs.some((p) => p.labels.exe === "my (weird) proc"),
      JSON.stringify(procs.map((p) => p.labels)),
    );
    assert.ok(
      procs.some((p) => p.labels.cmdline?.includes("/")),
      JSON.stringify(procs.map((p) => p.labels)),
    );
  } finally {
    await w.close();
    await h.cleanup();
  }
});

test("warp10: a wrong token is a logged 403 with the server's message, and the next step goes on", async () => {
  const w = await warp10("right");
  const h = await knownHost();
  const lines: string[] = [];
  const sink = new Warp10Sink({
    base: w.url,
    token: "wrong",
    log: createLogger({ level: "warn", write: (l) => lines.push(l) }),
    filter: { kind: "top", n: 10 },
    qemu: false,
  });
  try {
    await h.step();
    sink.write(await h.step());
    await sink.close();
    sink.write(await h.step());
    await sink.close();
    assert.equal(w.requests, 2, "each step tried");
    assert.equal(w.series.length, 0);
    assert.equal(sink.health.sent, 0);
    assert.equal(
      lines.filter((l) => /WARN warp10: http:\/\/127\.0\.0\.1:\d+\/api\/v0\/update answered 403: Invalid write token\./.test(l)).length,
      1,
      lines.join("\n"),
    );
  } finally {
    await w.close();
    await h.cleanup();
  }
});

test("a command line cut where an emoji is: cut before the whole character; a lone surrogate encodes as U+FFFD, never throws (hostile round 3, item 11)", async () => {
  const { cmdlineLabel } = await import("../../src/exporters/select.js");
  const { gtsEncode } = await import("../../src/exporters/push/warp10.js");
  const cmdline = ["x".repeat(252) + "\u{1F600}" + "y".repeat(20)]; // the emoji's two code units at 252 and 253: the cut (at 253) between them
  const label = cmdlineLabel({ cmdline }, 256);
  assert.equal(label, "x".repeat(252) + "...", "the emoji is not cut in half");
  assert.doesNotThrow(() => encodeURIComponent(label));
  assert.equal(gtsEncode("a\uD83Db"), "a%EF%BF%BDb");
  assert.equal(gtsEncode("\u{1F600}"), "%F0%9F%98%80");
});
