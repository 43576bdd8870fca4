/**
 * The riemann exporter against servers started here: one that decodes with
 * the exporter's .proto (riemann-client.system.test.ts cross-checks it with
 * Debian's riemann-c-client), one with mutual TLS (the test PKI's
 * certificates), and one that goes away and comes back.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as tlsConnect } from "node:tls";
import { KNOWN_HOST, knownHost, startRiemannServer, testPki } from "@scaph/test-support";
import type { RiemannTestServer } from "@scaph/test-support";
import { sinkTo } from "./riemann-sink.js";

test("one framed Msg per dispatch, answered ok; the host's power and its processes' add up", async () => {
  const srv = await startRiemannServer();
  const h = await knownHost();
  const lines: string[] = [];
  const sink = sinkTo(srv.port, lines);
  try {
    await h.step();
    sink.write(await h.step());
    await sink.close();
    assert.equal(srv.msgs.length, 1, "all the events of one dispatch in one Msg");
    const events = srv.msgs[0]?.events ?? [];
    assert.equal(sink.health.sent, events.length);
    const host = events.find((e) => e.service === "scaph_host_power_microwatts");
    assert.ok(host && Math.abs((host.metric_d ?? 0) - KNOWN_HOST.hostUw) <= 0.03 * KNOWN_HOST.hostUw, `host ${host?.metric_d} µW`);
    assert.equal(host.host, "hv-1");
    assert.deepEqual(host.tags, ["scaphandre"]);
    assert.equal(host.ttl, 60);
    assert.equal(host.state, "ok");
    assert.deepEqual(host.attributes, [{ key: "value_source", value: "powercap_rapl_pkg" }]);
    assert.ok(Math.abs((host.time_micros ?? 0) / 1e6 - Date.now() / 1000) < 60);
    const procs = events.filter((e) => e.service?.startsWith("scaph_process_power_consumption_microwatts_"));
    for (const [pid, uw] of KNOWN_HOST.processUw) {
      const e = procs.find((p) => p.attributes?.some((a) => a.key === "pid" && a.value === String(pid)));
      assert.ok(e, `process ${pid}`);
      const exe = e.attributes?.find((a) => a.key === "exe")?.value;
      assert.equal(e.service, `scaph_process_power_consumption_microwatts_${pid}_${exe}`);
      assert.equal(e.metric_d, uw);
    }
    assert.equal(
      procs.reduce((n, e) => n + (e.metric_d ?? 0), 0),
      KNOWN_HOST.hostUw,
      "the processes' power adds up to the host's",
    );
    assert.ok(lines.some((l) => l.includes(`riemann: sent ${events.length} events in one message`)));
  } finally {
    await srv.close();
    await h.cleanup();
  }
});

/** The test PKI: a CA, a server certificate for `localhost` and a client certificate. */
function certificates(): { ca: Buffer; serverCert: Buffer; serverKey: Buffer; clientCert: Buffer; clientKey: Buffer } {
  const p = testPki();
  return { ca: p.ca, serverCert: p.server.cert, serverKey: p.server.key, clientCert: p.client.cert, clientKey: p.client.key };
}

test("mutual TLS: the server accepts the exporter's certificate, refuses a client without one, and its name is checked", async () => {
  const c = certificates();
  const srv = await startRiemannServer({ tls: { ca: c.ca, cert: c.serverCert, key: c.serverKey } });
  const h = await knownHost();
  try {
    await h.step();
    const snap = await h.step();
    const tls = { ca: c.ca, cert: c.clientCert, key: c.clientKey };
    const ok = sinkTo(srv.port, [], { host: "localhost", tls });
    ok.write(snap);
    await ok.close();
    assert.equal(ok.health.sent, srv.events(), srv.errors.join("; "));
    assert.ok(srv.events() > 0);

    // a client without a certificate: the server ends the handshake
    const refused = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: "localhost", port: srv.port, ca: c.ca });
      s.on("secureConnect", () => s.write(Buffer.alloc(4)));
      s.on("error", (e: Error) => resolve(e.message));
      s.on("close", () => resolve("closed"));
    });
    assert.match(refused, /certificate|alert|closed|reset/i);
    assert.equal(srv.msgs.length, 1, "nothing received from it");

    // the address is the server's name: 127.0.0.1 is not in its certificate
    const lines: string[] = [];
    const wrongName = sinkTo(srv.port, lines, { host: "127.0.0.1", tls });
    wrongName.write(snap);
    await wrongName.close();
    assert.equal(wrongName.health.sent, 0);
    assert.ok(
      lines.some((l) => /WARN riemann: 127\.0\.0\.1:\d+: .*(altnames|IP: 127\.0\.0\.1 is not in the cert)/.test(l)),
      lines.join("\n"),
    );
  } finally {
    await srv.close();
    await h.cleanup();
  }
});

test("a server that goes away and comes back: logged, measuring goes on, reconnected; every event it says it sent arrived", async () => {
  const srv: RiemannTestServer = await startRiemannServer();
  const port = srv.port;
  const h = await knownHost();
  const lines: string[] = [];
  const sink = sinkTo(port, lines, { backoff: { minMs: 50, maxMs: 200 } });
  /** A step handed to the sink, and its send's outcome (sent or not delivered: counted either way). */
  const stepAndSettle = async (): Promise<void> => {
    const before = sink.health.sent + sink.health.lost;
    sink.write(await h.step());
    for (let i = 0; i < 1000 && sink.health.sent + sink.health.lost === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(sink.health.sent + sink.health.lost > before, "the send's outcome was counted");
  };
  try {
    await h.step();
    await stepAndSettle();
    const before = srv.events();
    await srv.close();
    for (let i = 0; i < 3; i++) await stepAndSettle(); // no server: counted, logged, the step returns at once
    assert.ok(sink.health.lost > 0);
    assert.ok(
      lines.some((l) => /WARN riemann: 127\.0\.0\.1:\d+: .*(ECONNREFUSED|closed|next attempt)/.test(l)),
      lines.join("\n"),
    );
    await srv.reopen();
    for (let i = 0; i < 20 && sink.client.connects < 2; i++) await stepAndSettle();
    await sink.close();
    assert.ok(sink.client.connects >= 2, `reconnected: ${lines.join("\n")}`);
    assert.ok(lines.some((l) => l.includes("riemann: delivering again")));
    assert.equal(srv.events(), sink.health.sent, "what the exporter counts as sent is what the server got");
    assert.ok(srv.events() > before);
  } finally {
    await srv.close().catch(() => {});
    await h.cleanup();
  }
});
