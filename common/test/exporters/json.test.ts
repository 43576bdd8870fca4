import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { JsonSink } from "../../src/index.js";
import type { JsonReport } from "../../src/index.js";

const report = (n: number): JsonReport => ({
  host: { consumption: 1_000_000 * n, timestamp: 1700000000 + n, value_source: "powercap_rapl", estimated: false, components: { disks: [] } },
  consumers: [],
  sockets: [],
});

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "scaph-json-"));
  try {
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("JsonSink to a file: a complete array after every report, in place after the first", () =>
  withDir(async (dir) => {
    const file = join(dir, "r.json");
    await writeFile(file, "old content that is replaced\n");
    const sink = new JsonSink({ file });
    let ino = -1;
    for (let n = 1; n <= 5; n++) {
      await sink.write(report(n));
      const arr = JSON.parse(await readFile(file, "utf8")) as JsonReport[];
      assert.deepEqual(
        arr,
        Array.from({ length: n }, (_, i) => report(i + 1)),
      );
      const st = await stat(file);
      if (n === 1) ino = st.ino;
      else assert.equal(st.ino, ino, "appended in place, not rewritten through a new file");
    }
    await sink.close();
    assert.equal((JSON.parse(await readFile(file, "utf8")) as unknown[]).length, 5);
  }));

test("JsonSink to a file: after a rotation, a new array starts; nothing of the old one is overwritten", () =>
  withDir(async (dir) => {
    const file = join(dir, "r.json");
    const sink = new JsonSink({ file });
    await sink.write(report(1));
    await sink.write(report(2));
    await rename(file, `${file}.1`);
    await sink.write(report(3));
    assert.deepEqual(JSON.parse(await readFile(`${file}.1`, "utf8")), [report(1), report(2)]);
    assert.deepEqual(JSON.parse(await readFile(file, "utf8")), [report(3)]);
    // Truncated by someone else: also a new array.
    await writeFile(file, "");
    await sink.write(report(4));
    assert.deepEqual(JSON.parse(await readFile(file, "utf8")), [report(4)]);
    await sink.close();
  }));

/** Writes `reports` through a stream sink, closes it, and returns what the stream got. */
async function throughStream(reports: JsonReport[]): Promise<string> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => (text += d.toString()));
  const sink = new JsonSink({ stream: out });
  for (const r of reports) await sink.write(r);
  await sink.close();
  return text;
}

test("JsonSink: no report gives an empty array, to a file and to a stream", () =>
  withDir(async (dir) => {
    const file = join(dir, "r.json");
    await new JsonSink({ file }).close();
    assert.deepEqual(JSON.parse(await readFile(file, "utf8")), []);
    assert.deepEqual(JSON.parse(await throughStream([])), []);
    assert.deepEqual(JSON.parse(await throughStream([report(1), report(2)])), [report(1), report(2)]);
  }));
