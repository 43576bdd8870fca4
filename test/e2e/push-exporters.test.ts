/**
 * The sending exporters as commands: a Riemann server and a Warp 10
 * endpoint started here on 127.0.0.1, fed by scaph-host and scaph-guest
 * measuring a simulated host of known power. (Debian's Pushgateway:
 * push-exporters-pushgateway.system.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { createLogger } from "@scaph/common";
import { PrometheusPushSink } from "@scaph/common/prometheus-push";
import { knownHost, startRiemannServer } from "@scaph/test-support";
import { guestBin, hostBin, runNode } from "../helpers/cli.js";
import { startBackground, waitFor } from "../helpers/processes.js";
import { cleanups, near, simulatedHost, started, WATTS } from "./push-rig.js";

test("scaph-host riemann: events every --dispatch, the host's power among them", async () => {
  const srv = await startRiemannServer();
  cleanups.push(() => srv.close());
  const tree = await simulatedHost();
  const bg = started(
    startBackground(process.execPath, [hostBin, "-vv", "riemann", "-a", "127.0.0.1", "-p", String(srv.port), "-d", "1", "--powercap-path", tree]),
  );
  await waitFor("three dispatches", () => (srv.msgs.length >= 3 ? true : null), 20_000);
  const host = srv.msgs.at(-1)?.events?.find((e) => e.service === "scaph_host_power_microwatts");
  assert.ok(near(host?.metric_d ?? null, WATTS * 1e6, 0.1), `host ${host?.metric_d} µW`);
  assert.equal(host?.host, hostname());
  assert.match(bg.output(), /scaph-host: sending events to riemann at 127\.0\.0\.1:\d+, every 1 s/);
  // a bad flag set: --ca without --mtls is refused at once
  const bad = await runNode(hostBin, ["riemann", "--ca", "/nonexistent"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--ca, --cert and --key go with --mtls/);
  const missing = await runNode(hostBin, ["riemann", "--mtls", "--ca", "/nonexistent/ca.pem", "--cert", "/x", "--key", "/y"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /--ca \/nonexistent\/ca\.pem: cannot read it \(ENOENT\)/);
});

test("scaph-guest warp10 (the token from SCAPH_WARP10_WRITE_TOKEN): series every --step", async () => {
  const lines: string[] = [];
  const tokens = new Set<string>();
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      tokens.add(String(req.headers["x-warp10-token"]));
      lines.push(...body.split("\n").filter(Boolean));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const tree = await simulatedHost("powercap/vm-tree");
  const port = String((server.address() as AddressInfo).port);
  started(
    startBackground(process.execPath, [guestBin, "warp10", "-H", "127.0.0.1", "-p", port, "-S", "1", "--no-channel", "--powercap-path", tree], {
      ...process.env,
      SCAPH_WARP10_WRITE_TOKEN: "from-env",
    }),
  );
  const v = await waitFor(
    "a host power line",
    () => {
      const l = lines.filter((x) => x.includes("// scaph_host_power_microwatts{")).at(-1);
      const n = l ? Number(l.split(" ").at(-1)) : 0;
      return n > 0 ? n : null;
    },
    20_000,
  );
  assert.ok(near(v, WATTS * 1e6, 0.1), `host ${v} µW`);
  assert.deepEqual([...tokens], ["from-env"]);
  // no token at all: refused at once, naming both ways to give one
  const none = await runNode(guestBin, ["warp10", "--no-channel", "--powercap-path", tree], { env: { ...process.env, SCAPH_WARP10_WRITE_TOKEN: "" } });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /--write-token TOKEN, or SCAPH_WARP10_WRITE_TOKEN/);
});

test("prometheus-push: a push skipped while the one before hangs counts its series as not delivered", async () => {
  const { createServer } = await import("node:http");
  let received = -1; // series in the first push, as the server read them
  const server = createServer((req) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => (received = body.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length)); // and never answers
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as import("node:net").AddressInfo;
  const h = await knownHost();
  cleanups.push(() => h.cleanup());
  const sink = new PrometheusPushSink({
    base: new URL(`http://127.0.0.1:${port}`),
    suffix: "metrics",
    job: "j",
    instance: "i",
    log: createLogger({ level: "error" }),
    filter: { kind: "top", n: 10 },
    qemu: false,
    timeoutMs: 2_000,
  });
  try {
    await h.step();
    sink.write(await h.step()); // in flight, hanging
    await waitFor("the first push to reach the server", () => (received > 0 ? true : null));
    sink.write(await h.step()); // skipped: the first still runs
    assert.equal(sink.health.lost, received, "the skipped push's series are counted as not delivered");
  } finally {
    await sink.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
