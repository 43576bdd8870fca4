import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Connection } from "../src/index.js";
import { fixtureUri } from "./helpers.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** RSS after a full GC, MiB. */
function rssMiB(): number {
  gc();
  gc();
  return process.memoryUsage().rss / 2 ** 20;
}

function cycle(c: Connection): number {
  let bytes = 0;
  for (const d of c.listAllDomains()) {
    bytes += d.xml().length + d.name.length + d.uuid.length;
    d.free();
  }
  return bytes;
}

// Each cycle lists 4 domains and reads ~4 KiB of XML: a leaked handle or
// string would add at least 10,000 × 4 × 1 KiB = 40 MiB.
const BOUND_MIB = 12;

test(`10,000 list/xml/free cycles keep RSS flat (growth < ${BOUND_MIB} MiB)`, () => {
  using c = Connection.open(fixtureUri);
  for (let i = 0; i < 1000; i++) cycle(c);
  const before = rssMiB();
  let bytes = 0;
  for (let i = 0; i < 10_000; i++) bytes += cycle(c);
  const after = rssMiB();
  assert.ok(bytes > 10_000 * 4 * 500, `read ${bytes} bytes of XML`);
  assert.ok(after - before < BOUND_MIB, `RSS grew ${(after - before).toFixed(1)} MiB (from ${before.toFixed(1)} MiB)`);
});
