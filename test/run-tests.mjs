#!/usr/bin/env node
// Runs one tier of the compiled *.test.js files with Node's test runner
// (node:test run()), each file in its own process with --test-force-exit and
// a deadline: a file past its deadline is killed and fails, naming the file
// and the last subtest it started. All files report through one spec
// reporter and end in one summary, with the count of files in each tier.
//
//   node test/run-tests.mjs                 the fast tier (npm test): unprivileged, no system package
//   node test/run-tests.mjs --tier system   the system tier (npm run test:system), as root
//   node test/run-tests.mjs --tier system --no-lab    all of it but the real-VM labs
//   node test/run-tests.mjs --tier system --lab-only  the labs alone
//
// Options: --jobs N runs N files at once (the fast tier's default: twice
// the machine's cores, at most 4, as its files mostly wait on steps; the
// system tier runs one at a time, as its files share libvirtd and the
// machine); --dir DIR looks for *.test.js in
// DIR instead of the packages' dist/test directories (the runner's own test).
// TEST_FILTER=substring[,substring...] picks files by path;
// SCAPH_TEST_DEADLINE_SCALE=2 doubles every deadline.
//
// The fast tier, started as root, runs as nobody (runner/unprivileged.mjs).
// The system tier checks after each file that it left nothing on the
// machine (runner/machine.mjs): a mount, a daemon, a user, scaph's packages,
// a temporary file; the fast tier checks the same once, at its end.
import { run } from "node:test";
import { spec } from "node:test/reporters";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isLab, listTestFiles, TIERS, tierOf } from "./runner/tiers.mjs";
import { dropRoot } from "./runner/unprivileged.mjs";
import { cleanUp, machineState, settle } from "./runner/machine.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Deadline of a test file, by where it lives (the first matching prefix wins). */
export const DEADLINES_S = [
  // a cold cache builds the Debian guest image (mmdebstrap with a kernel) and the packages first
  ["test/dist/lab/debian-guest", 1800],
  ["test/dist/lab/", 420],
  // five minutes of schedule after two guests boot under TCG
  ["test/dist/soak/", 1200],
  // a cold cache builds the packages (and the nspawn root filesystem) first
  ["test/dist/packaging/", 600],
  ["test/dist/e2e/", 240],
  // dockerd builds the image (npm ci, tsc) on vfs; a cold cache makes its base images first
  ["test/dist/deploy/docker", 1500],
  // a real Prometheus scrapes a few times before the queries
  ["test/dist/deploy/scaphandre-compat", 240],
  // three hosts, their agents, a TSDB and vmalert; a VM's energy gathered on one host, then on another
  ["test/dist/deploy/fleet", 420],
  ["", 120],
];

export function deadlineS(file) {
  const scale = Number(process.env.SCAPH_TEST_DEADLINE_SCALE ?? "1");
  for (const [prefix, s] of DEADLINES_S) if (file.startsWith(prefix)) return Math.max(1, Math.round(s * (scale > 0 ? scale : 1)));
  return 120;
}

function usage(msg) {
  console.error(`run-tests: ${msg}\n  usage: node test/run-tests.mjs [--tier fast|system] [--no-lab | --lab-only] [--jobs N] [--dir DIR]...`);
  process.exit(2);
}

let opts;
try {
  opts = parseArgs({
    options: {
      tier: { type: "string", default: "fast" },
      "no-lab": { type: "boolean", default: false },
      "lab-only": { type: "boolean", default: false },
      jobs: { type: "string" },
      dir: { type: "string", multiple: true },
    },
  }).values;
} catch (err) {
  usage(err.message);
}
const tier = opts.tier;
if (!TIERS.includes(tier)) usage(`unknown tier ${tier} (known: ${TIERS.join(", ")})`);
if ((opts["no-lab"] || opts["lab-only"]) && tier !== "system") usage("--no-lab and --lab-only choose among the system tier's files: add --tier system");
const jobs = opts.jobs === undefined ? (tier === "fast" ? Math.min(4, 2 * availableParallelism()) : 1) : Number(opts.jobs);
if (!Number.isInteger(jobs) || jobs < 1) usage(`--jobs wants a whole number of 1 or more, not ${opts.jobs}`);

const dirs = opts.dir?.map((d) => resolve(d));
const all = dirs ? listTestFiles("/", dirs, { sources: false }).map((f) => `/${f}`) : listTestFiles(root);
if (all.length === 0) {
  console.error("run-tests: no test files found (did tsc -b run?)");
  process.exit(1);
}
const filters = (process.env.TEST_FILTER ?? "").split(",").filter((f) => f !== "");
const chosen = all
  .filter((f) => tierOf(f) === tier)
  .filter((f) => (opts["lab-only"] ? isLab(f) : opts["no-lab"] ? !isLab(f) : true))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
const counts = Object.fromEntries(TIERS.map((t) => [t, all.filter((f) => tierOf(f) === t).length]));

// Before any test: the fast tier drops root (it may re-run this runner through setpriv).
const as = tier === "fast" && !process.env.UPDATE_GOLDEN ? dropRoot([join(root, "package.json"), join(root, "node_modules"), ...chosen.slice(0, 1).map((f) => join(root, f))]) : `as uid ${process.getuid?.()}`;
process.env.SCAPH_TEST_TIER = tier;

const files = (n) => `${n} file${n === 1 ? "" : "s"}`;
console.log(
  `# tiers: fast ${files(counts.fast)} (*.test.ts), system ${files(counts.system)} (*.system.test.ts); ` +
    `running the ${tier} tier: ${files(chosen.length)}, ${jobs} at a time, ${as}`,
);
if (chosen.length === 0) {
  console.error(`run-tests: no ${tier}-tier file matches${filters.length > 0 ? ` TEST_FILTER=${filters.join(",")}` : ""}`);
  process.exit(1);
}

const SUMMARY_KEYS = ["tests", "suites", "pass", "fail", "cancelled", "skipped", "todo", "duration_ms"];
const totals = Object.fromEntries(SUMMARY_KEYS.map((k) => [k, 0]));
const reporter = spec();
reporter.pipe(process.stdout);
const failedFiles = new Map(); // file -> why
const fileSeconds = new Map(); // file -> seconds it took
const interrupted = new AbortController();
process.once("SIGINT", () => interrupted.abort());
process.once("SIGTERM", () => interrupted.abort());

const diagnostic = (message) => ({ type: "test:diagnostic", data: { nesting: 0, message } });

/**
 * Runs one file; forwards its events to `emit` (the reporter at once with
 * one job, else when the file ends, so that files do not interleave), keeps
 * its summary numbers.
 */
async function runFile(file, emit) {
  const abs = file.startsWith("/") ? file : join(root, file);
  const limitS = deadlineS(file);
  const started = performance.now();
  let lastSubtest = null;
  let timedOut = false;
  let firstFailure = null;
  let fails = 0;
  const stream = run({ files: [abs], concurrency: 1, timeout: limitS * 1000, forceExit: true, signal: interrupted.signal });
  for await (const event of stream) {
    const d = event.data ?? {};
    const fileLevel = d.name === abs || d.name === file;
    if ((event.type === "test:dequeue" || event.type === "test:start") && !fileLevel && d.file === abs) lastSubtest = d.name;
    if (event.type === "test:fail" && fileLevel && d.details?.error?.failureType === "testTimeoutFailure") timedOut = true;
    if (event.type === "test:fail" && !fileLevel && firstFailure === null) {
      const cause = d.details?.error?.cause ?? d.details?.error;
      firstFailure = `${d.name}: ${String(cause?.message ?? cause ?? "").split("\n")[0]}`;
    }
    if (event.type === "test:diagnostic" && d.nesting === 0 && d.file === undefined) {
      const m = /^(\w+) ([\d.]+)$/.exec(d.message ?? "");
      if (m && m[1] in totals) {
        totals[m[1]] += Number(m[2]);
        if (m[1] === "fail") fails += Number(m[2]);
        continue;
      }
    }
    if (event.type === "test:plan" && d.file === undefined) continue;
    emit(event);
  }
  fileSeconds.set(file, (performance.now() - started) / 1000);
  if (timedOut) {
    const what = `passed its deadline of ${limitS} s and was killed; last subtest started: ${lastSubtest === null ? "(none)" : JSON.stringify(lastSubtest)}`;
    failedFiles.set(file, what);
    totals.fail += 1;
    totals.cancelled = Math.max(0, totals.cancelled - 1);
    emit(diagnostic(`DEADLINE: ${file} ${what}`));
  } else if (fails > 0) {
    failedFiles.set(file, firstFailure ?? `${fails} failed`);
  }
}

/** A system-tier file, then the check that it left the machine as it found it. */
async function runSystemFile(file, emit) {
  const before = machineState();
  await runFile(file, emit);
  const left = await settle(before);
  if (left.length > 0) {
    cleanUp(before);
    const why = `left the machine changed (now undone by the runner): ${left.join("; ")}`;
    failedFiles.set(file, failedFiles.has(file) ? `${failedFiles.get(file)}; and ${why}` : why);
    totals.fail += 1;
    emit(diagnostic(`LEFT BEHIND: ${file} ${why}`));
  }
}

const t0 = performance.now();
// The fast tier runs files side by side: what they left is checked once, at the end (not for a run on
// another --dir, the runner's own test, which runs beside other tests' files).
const fastBefore = tier === "fast" && !dirs ? machineState() : null;
const queue = [...chosen];
const runOne = tier === "system" && !dirs ? runSystemFile : runFile;
async function worker() {
  for (let file = queue.shift(); file !== undefined && !interrupted.signal.aborted; file = queue.shift()) {
    if (jobs === 1) {
      await runOne(file, (e) => reporter.write(e));
    } else {
      const held = [];
      await runOne(file, (e) => held.push(e));
      for (const e of held) reporter.write(e);
    }
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, chosen.length) }, worker));
if (fastBefore) {
  const left = await settle(fastBefore, 5_000);
  if (left.length > 0) {
    cleanUp(fastBefore);
    failedFiles.set("(the fast tier's files)", `left the machine changed (now undone by the runner): ${left.join("; ")}`);
    totals.fail += 1;
    reporter.write(diagnostic(`LEFT BEHIND by the fast tier: ${left.join("; ")}`));
  }
}
totals.duration_ms = performance.now() - t0;
for (const k of SUMMARY_KEYS) reporter.write(diagnostic(`${k} ${totals[k]}`));
reporter.write(diagnostic(`tier ${tier}: ${chosen.length} of its ${files(counts[tier])} run, ${failedFiles.size} failed`));
const slowest = [...fileSeconds].sort((a, b) => b[1] - a[1]).slice(0, 8);
reporter.write(diagnostic(`slowest files: ${slowest.map(([f, s]) => `${f} ${s.toFixed(1)} s`).join(", ")}`));
reporter.end();
await new Promise((r) => reporter.once("end", r).once("close", r).once("finish", r));
for (const [f, why] of failedFiles) process.stderr.write(`run-tests: ${tier} tier: FAILED ${f}: ${why}\n`);
if (interrupted.signal.aborted) process.stderr.write("run-tests: interrupted\n");
process.exitCode = totals.fail > 0 || totals.cancelled > 0 || interrupted.signal.aborted ? 1 : 0;
