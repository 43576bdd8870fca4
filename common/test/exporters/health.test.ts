/** PeerHealth logs by state: a peer whose failure reason changes at every send cannot flood the log. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../src/index.js";
import { FAILING_REMINDER_MS, PeerHealth } from "../../src/exporters/push/health.js";

test("45 failed sends in 45 s with reasons that change every time: one WARN; a reminder a minute later; one line when delivery is back", () => {
  const lines: string[] = [];
  let now = 1_000_000;
  const h = new PeerHealth("riemann", "events", createLogger({ level: "info", write: (l) => lines.push(l) }), () => now);
  const warns = (): string[] => lines.filter((l) => l.includes("WARN"));
  for (let i = 0; i < 45; i++) {
    h.fail(i % 2 ? `connect ECONNREFUSED 127.0.0.1:5555` : `not connected (next attempt in ${30 - (i % 30)} s)`, 10);
    now += 1000;
  }
  assert.equal(warns().length, 1, warns().join("\n"));
  assert.equal(h.lost, 450);
  now += FAILING_REMINDER_MS;
  h.fail("a server replying garbage", 10);
  assert.equal(warns().length, 2);
  assert.match(
    warns()[1]!,
    /still not delivering: 45 sends failed since the last word, 460 events not delivered since the last delivery; the last reason: a server replying garbage/,
  );
  h.ok(10);
  assert.equal(warns().length, 3);
  assert.match(warns()[2]!, /delivering again \(460 events were not delivered meanwhile\)/);
  h.fail("refused", 10);
  assert.equal(warns().length, 4, "a new failure after a delivery is said at once");
});
