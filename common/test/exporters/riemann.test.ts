/**
 * The riemann exporter against servers started here: one that decodes with
 * the exporter's .proto (cross-checked with Debian's riemann-c-client both
 * ways), one with mutual TLS (certificates made by openssl), and one that
 * goes away and comes back.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { createLogger } from "../../src/index.js";
import { RiemannSink } from "../../src/exporters/riemann/sink.js";
import { KNOWN_HOST, knownHost, startRiemannServer } from "@scaph/test-support";
import type { RiemannTestServer } from "@scaph/test-support";

const dir = mkdtempSync(join(tmpdir(), "scaph-riemann-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function requireCommand(cmd: string, pkg: string): void {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
  } catch {
    assert.fail(`${cmd} not found: install the Debian package ${pkg}`);
  }
}

/** Runs a command without blocking this process (the server under test lives here). */
function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
  });
}

function sinkTo(port: number, lines: string[], extra: Partial<ConstructorParameters<typeof RiemannSink>[0]> = {}): RiemannSink {
  return new RiemannSink({
    host: "127.0.0.1",
    port,
    log: createLogger({ level: "debug", write: (l) => lines.push(l) }),
    filter: { kind: "top", n: 10 },
    qemu: false,
    eventHost: "hv-1",
    ...extra,
  });
}

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
    assert.equal(procs.reduce((n, e) => n + (e.metric_d ?? 0), 0), KNOWN_HOST.hostUw, "the processes' power adds up to the host's");
    assert.ok(lines.some((l) => l.includes(`riemann: sent ${events.length} events in one message`)));
  } finally {
    await srv.close();
    await h.cleanup();
  }
});

test("cross-checked with riemann-c-client: it decodes what the exporter sent, and the test server decodes what it sends", async () => {
  requireCommand("riemann-client", "riemann-c-client");
  const srv = await startRiemannServer();
  const h = await knownHost();
  try {
    await h.step();
    const sink = sinkTo(srv.port, []);
    sink.write(await h.step());
    await sink.close();
    // riemann-client's query: the server answers with the exporter's own bytes, which riemann-c-client decodes
    const q = await run("riemann-client", ["query", "true", "127.0.0.1", String(srv.port)]);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout, /service = scaph_host_power_microwatts\n\s+host = hv-1\n[\s\S]*?metric_d = 12000000\.000000\n\s+tags = \[ scaphandre \]\n\s+attributes = \{\n\s+value_source = powercap_rapl_pkg/);
    assert.equal((q.stdout.match(/^Event #/gm) ?? []).length, srv.events());
    // riemann-client's send: our decoder reads what riemann-c-client encodes, and riemann-client takes our ok
    const s = await run("riemann-client", ["send", "-S", "svc one", "-h", "hv-2", "-d", "1.5", "-a", "k=v", "-t", "t1", "-L", "30", "-s", "warning", "127.0.0.1", String(srv.port)]);
    assert.equal(s.code, 0, s.stderr);
    const e = srv.msgs.at(-1)?.events?.[0];
    assert.deepEqual(
      { service: e?.service, host: e?.host, metric_d: e?.metric_d, attributes: e?.attributes?.filter((a) => a.key !== "x-client"), tags: e?.tags, ttl: e?.ttl, state: e?.state },
      { service: "svc one", host: "hv-2", metric_d: 1.5, attributes: [{ key: "k", value: "v" }], tags: ["t1"], ttl: 30, state: "warning" },
    );
  } finally {
    await srv.close();
    await h.cleanup();
  }
});

/** A CA, a server certificate for `localhost` and a client certificate, made by openssl. */
function certificates(): { ca: Buffer; serverCert: Buffer; serverKey: Buffer; clientCert: Buffer; clientKey: Buffer } {
  requireCommand("openssl", "openssl");
  const o = (...args: string[]): void => void execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  o("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=scaph test CA");
  for (const [name, subj, ext] of [
    ["server", "/CN=localhost", "subjectAltName=DNS:localhost"],
    ["client", "/CN=scaph-client", "extendedKeyUsage=clientAuth"],
  ] as const) {
    o("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subj);
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    o("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`);
  }
  const r = (f: string): Buffer => readFileSync(join(dir, f));
  return { ca: r("ca.pem"), serverCert: r("server.pem"), serverKey: r("server.key"), clientCert: r("client.pem"), clientKey: r("client.key") };
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
      s.on("error", (e) => resolve(e.message));
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
    assert.ok(lines.some((l) => /WARN riemann: 127\.0\.0\.1:\d+: .*(altnames|IP: 127\.0\.0\.1 is not in the cert)/.test(l)), lines.join("\n"));
  } finally {
    await srv.close();
    await h.cleanup();
  }
});

test("a server that goes away and comes back: logged, measuring goes on, reconnected; every event it says it sent arrived", async () => {
  let srv: RiemannTestServer = await startRiemannServer();
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
    assert.ok(lines.some((l) => /WARN riemann: 127\.0\.0\.1:\d+: .*(ECONNREFUSED|closed|next attempt)/.test(l)), lines.join("\n"));
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
