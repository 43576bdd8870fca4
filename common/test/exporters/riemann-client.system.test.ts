/**
 * The riemann exporter cross-checked with Debian's riemann-c-client, both
 * ways: the client decodes what the exporter sent (through the test server's
 * query answer), and the test server decodes what the client sends.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { knownHost, requireCommand, startRiemannServer } from "@scaph/test-support";
import { sinkTo } from "./riemann-sink.js";

/** Runs a command without blocking this process (the server under test lives here). */
function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

test("cross-checked with riemann-c-client: it decodes what the exporter sent, and the test server decodes what it sends", async () => {
  const client = requireCommand("riemann-client", "riemann-c-client");
  const srv = await startRiemannServer();
  const h = await knownHost();
  try {
    await h.step();
    const sink = sinkTo(srv.port, []);
    sink.write(await h.step());
    await sink.close();
    // riemann-client's query: the server answers with the exporter's own bytes, which riemann-c-client decodes
    const q = await run(client, ["query", "true", "127.0.0.1", String(srv.port)]);
    assert.equal(q.code, 0, q.stderr);
    assert.match(
      q.stdout,
      /service = scaph_host_power_microwatts\n\s+host = hv-1\n[\s\S]*?metric_d = 12000000\.000000\n\s+tags = \[ scaphandre \]\n\s+attributes = \{\n\s+value_source = powercap_rapl_pkg/,
    );
    assert.equal((q.stdout.match(/^Event #/gm) ?? []).length, srv.events());
    // riemann-client's send: our decoder reads what riemann-c-client encodes, and riemann-client takes our ok
    const s = await run(client, [
      "send",
      "-S",
      "svc one",
      "-h",
      "hv-2",
      "-d",
      "1.5",
      "-a",
      "k=v",
      "-t",
      "t1",
      "-L",
      "30",
      "-s",
      "warning",
      "127.0.0.1",
      String(srv.port),
    ]);
    assert.equal(s.code, 0, s.stderr);
    const e = srv.msgs.at(-1)?.events?.[0];
    assert.deepEqual(
      {
        service: e?.service,
        host: e?.host,
        metric_d: e?.metric_d,
        attributes: e?.attributes?.filter((a) => a.key !== "x-client"),
        tags: e?.tags,
        ttl: e?.ttl,
        state: e?.state,
      },
      { service: "svc one", host: "hv-2", metric_d: 1.5, attributes: [{ key: "k", value: "v" }], tags: ["t1"], ttl: 30, state: "warning" },
    );
  } finally {
    await srv.close();
    await h.cleanup();
  }
});
