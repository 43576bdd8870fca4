#!/usr/bin/env node
// Runs the compiled *.test.js files with Node's test runner (node:test run()),
// one file at a time, each in its own process with --test-force-exit and a
// deadline: a file past its deadline is killed and fails, naming the file and
// the last subtest it started. All files report through one spec reporter and
// end in one summary.
//
//   node test/run-tests.mjs            every test file, the real-VM lab included
//   node test/run-tests.mjs --no-lab   all but the lab (test/dist/lab)
//   node test/run-tests.mjs --lab-only the lab alone
//
// TEST_FILTER=substring[,substring...] picks files by path. Files are looked for under
// <pkg>/dist/test and test/dist (run `tsc -b` first; npm's scripts do).
import { run } from "node:test";
import { spec } from "node:test/reporters";
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dirs = ["common/dist/test", "libvirt/dist/test", "host/dist/test", "guest/dist/test", "test/dist"];

/** Deadline of a test file, by where it lives (the first matching prefix wins). */
export const DEADLINES_S = [
  // a cold cache builds the Debian guest image (mmdebstrap with a kernel) and the packages first
  ["test/dist/lab/debian-guest", 1800],
  ["test/dist/lab/", 420],
  // a cold cache builds the packages (and the nspawn root filesystem) first
  ["test/dist/packaging/", 600],
  ["test/dist/e2e/", 240],
  // dockerd builds the image (npm ci, tsc) on vfs; a cold cache makes its base images first
  ["test/dist/deploy/docker", 1500],
  // a real Prometheus scrapes a few times before the queries
  ["test/dist/deploy/scaphandre-compat", 240],
  ["", 120],
];

export function deadlineS(file) {
  const scale = Number(process.env.SCAPH_TEST_DEADLINE_SCALE ?? "1");
  for (const [prefix, s] of DEADLINES_S) if (file.startsWith(prefix)) return Math.max(1, Math.round(s * (scale > 0 ? scale : 1)));
  return 120;
}

/** The TypeScript source of a compiled test file: <pkg>/dist/test/x.test.js <- <pkg>/test/x.test.ts, test/dist/x <- test/x. */
function sourceOf(file) {
  const ts = file.replace(/\.js$/, ".ts");
  return ts.startsWith("test/dist/") ? ts.replace("test/dist/", "test/") : ts.replace("/dist/test/", "/test/");
}

/** Compiled test files whose source still exists (tsc -b leaves the output of a deleted test behind). */
function listFiles() {
  const files = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".test.js")) files.push(relative(root, p));
    }
  };
  for (const d of dirs) if (existsSync(join(root, d))) walk(join(root, d));
  return files.filter((f) => existsSync(join(root, sourceOf(f)))).sort();
}

const args = process.argv.slice(2);
const unknown = args.filter((a) => !["--no-lab", "--lab-only"].includes(a));
if (unknown.length > 0) {
  console.error(`run-tests: unknown argument ${unknown[0]} (known: --no-lab, --lab-only)`);
  process.exit(2);
}
const isLab = (f) => f.startsWith("test/dist/lab/");
const filters = (process.env.TEST_FILTER ?? "").split(",").filter((f) => f !== "");
const chosen = listFiles()
  .filter((f) => (args.includes("--lab-only") ? isLab(f) : args.includes("--no-lab") ? !isLab(f) : true))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (chosen.length === 0) {
  console.error("run-tests: no test files found (did tsc -b run?)");
  process.exit(1);
}

const SUMMARY_KEYS = ["tests", "suites", "pass", "fail", "cancelled", "skipped", "todo", "duration_ms"];
const totals = Object.fromEntries(SUMMARY_KEYS.map((k) => [k, 0]));
const reporter = spec();
reporter.pipe(process.stdout);
const overdue = [];
const interrupted = new AbortController();
process.once("SIGINT", () => interrupted.abort());
process.once("SIGTERM", () => interrupted.abort());

/** Runs one file; forwards its events to the reporter, keeps its summary numbers. */
async function runFile(file) {
  const abs = join(root, file);
  const limitS = deadlineS(file);
  let lastSubtest = null;
  let timedOut = false;
  const stream = run({ files: [abs], concurrency: 1, timeout: limitS * 1000, forceExit: true, signal: interrupted.signal });
  for await (const event of stream) {
    const d = event.data ?? {};
    const fileLevel = d.name === abs || d.name === file;
    if ((event.type === "test:dequeue" || event.type === "test:start") && !fileLevel && d.file === abs) lastSubtest = d.name;
    if (event.type === "test:fail" && fileLevel && d.details?.error?.failureType === "testTimeoutFailure") timedOut = true;
    if (event.type === "test:diagnostic" && d.nesting === 0 && d.file === undefined) {
      const m = /^(\w+) ([\d.]+)$/.exec(d.message ?? "");
      if (m && m[1] in totals) {
        totals[m[1]] += Number(m[2]);
        continue;
      }
    }
    if (event.type === "test:plan" && d.file === undefined) continue;
    reporter.write(event);
  }
  if (timedOut) {
    const what = `${file} passed its deadline of ${limitS} s and was killed; last subtest started: ${lastSubtest === null ? "(none)" : JSON.stringify(lastSubtest)}`;
    overdue.push(what);
    reporter.write({ type: "test:diagnostic", data: { nesting: 0, message: `DEADLINE: ${what}` } });
  }
}

const t0 = performance.now();
for (const file of chosen) {
  if (interrupted.signal.aborted) break;
  await runFile(file);
}
// A killed file counts as cancelled in node:test; here it is a failure.
totals.fail += overdue.length;
totals.cancelled = Math.max(0, totals.cancelled - overdue.length);
totals.duration_ms = performance.now() - t0;
for (const k of SUMMARY_KEYS) reporter.write({ type: "test:diagnostic", data: { nesting: 0, message: `${k} ${totals[k]}` } });
reporter.end();
await new Promise((r) => reporter.once("end", r).once("close", r).once("finish", r));
for (const o of overdue) process.stderr.write(`run-tests: ${o}\n`);
if (interrupted.signal.aborted) process.stderr.write("run-tests: interrupted\n");
process.exitCode = totals.fail > 0 || totals.cancelled > 0 || interrupted.signal.aborted ? 1 : 0;
