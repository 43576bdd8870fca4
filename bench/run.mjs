#!/usr/bin/env node
// npm run bench: the cost of scaph's measurement loop against a floor measured
// in the same run, on synthetic hosts (bench/synth.mjs) in memory (/dev/shm).
//
// - CPU per step of the real daemon (`scaph-host qemu`), read from its own
//   /proc/PID/stat over many steps, beside a C program doing the same reads
//   and tree writes (bench/floor.c, built here with cc);
// - how that grows with processes (100, 1,000, 10,000) and VMs (1, 10, 100);
// - scrape latency of `scaph-host prometheus` with 1,000 processes, and of
//   node_exporter's default collectors on this machine, where installed;
// - RSS after 1,000 steps (without libvirt, and with it loaded), and over 10,000 steps.
// Writes docs/benchmarks.md (and docs/benchmarks-cost.svg). Run it on a quiet
// machine: other load makes every number noisier (the ratios less so).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { get as httpGet } from "node:http";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { moveSynthHost, synthHost } from "./synth.mjs";

const repo = fileURLToPath(new URL("..", import.meta.url));
const hostBin = join(repo, "host/bin/scaph-host.js");
/** The environment and node flags of the bin's shebang (`#!/usr/bin/env -S VAR=x node --flag`): the daemon runs as installed. */
const shebang = readFileSync(hostBin, "utf8").split("\n")[0];
const nodeFlags = (shebang.match(/\bnode\s+(.*)$/)?.[1] ?? "").split(/\s+/).filter(Boolean);
const nodeEnv = Object.fromEntries([...(shebang.match(/-S\s+(.*?)\bnode\b/)?.[1] ?? "").matchAll(/(\w+)=(\S*)/g)].map((m) => [m[1], m[2]]));
const quick = process.argv.includes("--quick");
const memRoot = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
const work = mkdtempSync(join(memRoot, "scaph-bench-"));
const HZ = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const log = (s) => process.stderr.write(s + "\n");

function cpuTicksOf(pid) {
  const st = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}
const rssOf = (pid) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024;
/**
 * RSS sampled `n` times, `everyMs` apart, while the process goes on: median, least and most. A daemon's RSS
 * swings by 2-3 MiB between two collections of its heap (the old generation fills, then is compacted), so one
 * sample says little about a goal within that swing.
 */
async function rssSampled(pid, n = 20, everyMs = 100) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) await sleep(everyMs);
    xs.push(rssOf(pid));
  }
  xs.sort((a, b) => a - b);
  return { bytes: xs[Math.floor(n / 2)], min: xs[0], max: xs[n - 1] };
}

/** The floor: bench/floor.c, built here. */
function buildFloor() {
  const cc = spawnSync("sh", ["-c", "command -v cc"], { encoding: "utf8" }).stdout.trim();
  if (!cc) return null;
  const out = join(work, "floor");
  execFileSync(cc, ["-O2", "-o", out, join(repo, "bench/floor.c")]);
  return out;
}

/** The floor's CPU ms per step, a step every `stepS` as the daemon's (0: back to back). */
function floorStep(floor, root, vms, steps, stepS) {
  return Number(execFileSync(floor, [root, String(vms), String(steps), String(stepS * 1000)], { encoding: "utf8" }).trim()) / 1000;
}

/** Starts a daemon; resolves with it once its status file has counted `warm` steps. */
async function startDaemon(args) {
  const child = spawn(process.execPath, [...nodeFlags, hostBin, ...args], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...nodeEnv } });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  child.on("exit", (code) => code && log(`daemon exited ${code}: ${err}`));
  return { child, stderr: () => err };
}

function statusSteps(base) {
  try {
    return JSON.parse(readFileSync(join(base, ".scaph-status.json"), "utf8")).steps ?? 0;
  } catch {
    return 0;
  }
}

async function untilSteps(base, n, timeoutMs = 600_000) {
  const end = Date.now() + timeoutMs;
  while (statusSteps(base) < n) {
    if (Date.now() > end) throw new Error(`no step ${n} in ${base}`);
    await sleep(20);
  }
}

/** CPU ms per step of `scaph-host qemu` on a synthetic root, over `steps` steps after a warm-up. */
/**
 * CPU per step of the daemon. Its trees move once a step here (--substeps 1) unless `extra` says otherwise:
 * the frames between two steps are timers spread over a step, which steps of milliseconds leave no room
 * for; their cost is measured apart, at a step of a human's scale (1c).
 */
async function daemonStep(roots, base, steps, stepS, extra = []) {
  const d = await startDaemon(["qemu", "--no-libvirt", "--vm-user", "0", "--procfs-path", roots.proc, "--powercap-path", roots.powercap,
    "--cgroup-path", roots.cgroup, "--base-dir", base, "--step", String(stepS), ...(extra.includes("--substeps") ? [] : ["--substeps", "1"]), ...extra]);
  try {
    await untilSteps(base, 20);
    const s0 = statusSteps(base);
    const c0 = cpuTicksOf(d.child.pid);
    await untilSteps(base, s0 + steps);
    const s1 = statusSteps(base);
    const c1 = cpuTicksOf(d.child.pid);
    return { ms: ((c1 - c0) * 1000) / HZ / (s1 - s0), rss: rssOf(d.child.pid) };
  } finally {
    d.child.kill("SIGTERM");
    await new Promise((r) => d.child.on("exit", r));
  }
}

const results = { machine: {}, cost: [], scrape: [], rss: [] };
const model = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown CPU";
results.machine = { cpu: model, cores: cpus().length, kernel: release(), node: process.version, date: new Date().toISOString(), memRoot };
const floor = buildFloor();
if (!floor) log("bench: no C compiler (cc): the floor is not measured, ratios are missing (apt-get install gcc)");

// 1. Cost per step against the floor.
const configs = quick
  ? [[1000, 10]]
  : [[100, 10], [1000, 10], [10000, 10], [1000, 1], [1000, 100]];
for (const [procs, vms] of configs) {
  const root = join(work, `host-${procs}-${vms}`);
  const roots = synthHost(root, { processes: procs, vms });
  const steps = procs >= 10000 ? 40 : procs >= 1000 ? 200 : 1000;
  const stepS = procs >= 10000 ? 0.25 : 0.02;
  const ours = [];
  const floors = [];
  const hot = [];
  let rss = 0;
  for (let rep = 0; rep < (quick ? 1 : 3); rep++) {
    if (floor) floors.push(floorStep(floor, root, vms, steps, stepS));
    if (floor) hot.push(floorStep(floor, root, vms, steps, 0));
    const d = await daemonStep(roots, join(root, `base-${rep}`), steps, stepS);
    ours.push(d.ms);
    rss = d.rss;
  }
  const row = { procs, vms, stepS, ourMs: median(ours), floorMs: floor ? median(floors) : null, ours, floors, hotMs: floor ? median(hot) : null, hot, rss };
  results.cost.push(row);
  log(`bench: ${procs} processes, ${vms} VMs: scaph ${row.ourMs.toFixed(2)} ms/step, floor ${row.floorMs?.toFixed(2) ?? "-"} ms/step, ratio ${row.floorMs ? (row.ourMs / row.floorMs).toFixed(2) : "-"}`);
}

// 1a. --containers: the same host (a third of its processes in Docker containers, a third in pods), with and
// without it, alternated in the same run; no Docker or API server answers (their clients run in the background).
{
  const procs = 1000;
  const root = join(work, "containers");
  const roots = synthHost(root, { processes: procs, vms: 10 });
  const without = [];
  const withC = [];
  for (let rep = 0; rep < (quick ? 2 : 3); rep++) {
    without.push((await daemonStep(roots, join(root, `base-off-${rep}`), 200, 0.02)).ms);
    withC.push((await daemonStep(roots, join(root, `base-on-${rep}`), 200, 0.02, ["--containers", "--docker-socket", join(root, "no-docker.sock")])).ms);
  }
  results.containers = { procs, withoutMs: median(without), withMs: median(withC), without, with: withC };
  const r = results.containers;
  log(`bench: --containers, ${procs} processes: ${r.withMs.toFixed(2)} ms/step against ${r.withoutMs.toFixed(2)} without (ratio ${(r.withMs / r.withoutMs).toFixed(2)}, ${((1000 * (r.withMs - r.withoutMs)) / procs).toFixed(2)} µs more a process)`);
}

// 1c. The frames of the trees (--substeps 16, the default: each step's energy shown over the next step in 16
// frames) against none (--substeps 1), alternated in the same run, at a step of 0.5 s (frames every 31 ms).
{
  const procs = 1000;
  const vms = 10;
  const root = join(work, "frames");
  const roots = synthHost(root, { processes: procs, vms });
  // a host that runs: every VM gets energy every step (on a host that stands still, a VM's step adds nothing, and
  // the player passes a step with no energy in one frame: there would be no frames to measure)
  const mover = moveSynthHost(root, roots, { vms });
  const whole = [];
  const framed = [];
  try {
    for (let rep = 0; rep < (quick ? 1 : 3); rep++) {
      whole.push((await daemonStep(roots, join(root, `base-1-${rep}`), 40, 0.5, ["--substeps", "1"])).ms);
      framed.push((await daemonStep(roots, join(root, `base-16-${rep}`), 40, 0.5, ["--substeps", "16"])).ms);
    }
  } finally {
    mover.stop();
  }
  results.frames = { procs, vms, substeps: 16, wholeMs: median(whole), framedMs: median(framed), whole, framed };
  const r = results.frames;
  log(`bench: trees in 16 frames a step, ${vms} VMs: ${r.framedMs.toFixed(2)} ms/step against ${r.wholeMs.toFixed(2)} once a step (ratio ${(r.framedMs / r.wholeMs).toFixed(2)}, ${((1000 * (r.framedMs - r.wholeMs)) / (vms * 15)).toFixed(1)} µs a VM's frame)`);
}

// 1b. The same on this machine's own /proc, with 1,000 sleeping processes and 10 VMs added: real procfs
// files, which the kernel generates at each read (the synthetic host's are plain files in memory), and
// which scaph holds open and preads (a tmpfs copy of /proc it opens at each read, as the floor does).
// The VMs are processes of a binary named qemu-system-x86_64 (a C pause(), built here) with -name.
{
  const VMS = 10;
  const synth = synthHost(join(work, "real-synth"), { processes: 0, vms: VMS });
  const fakeQemu = join(work, "qemu-system-x86_64");
  if (floor) {
    writeFileSync(join(work, "pause.c"), "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n");
    execFileSync("cc", ["-O2", "-o", fakeQemu, join(work, "pause.c")]);
  }
  const root = join(work, "real");
  mkdirSync(root);
  symlinkSync("/proc", join(root, "proc"));
  symlinkSync(synth.powercap, join(root, "powercap"));
  symlinkSync(synth.cgroup, join(root, "cgroup"));
  const sleepers = [];
  try {
    for (let i = 0; i < 1000; i++) sleepers.push(spawn("sleep", ["3600"], { stdio: "ignore" }));
    if (floor) for (let v = 0; v < VMS; v++) sleepers.push(spawn(fakeQemu, ["-name", `guest=vm-${v},debug-threads=on`, "-machine", "none"], { stdio: "ignore" }));
    await sleep(1500);
    const procs = readdirSync("/proc").filter((n) => /^[0-9]+$/.test(n)).length;
    const ours = [];
    const floors = [];
    const hot = [];
    let rss = 0;
    for (let rep = 0; rep < (quick ? 1 : 3); rep++) {
      if (floor) floors.push(floorStep(floor, root, VMS, 200, 0.02));
      if (floor) hot.push(floorStep(floor, root, VMS, 200, 0));
      const d = await daemonStep({ proc: "/proc", powercap: synth.powercap, cgroup: synth.cgroup }, join(root, `base-${rep}`), 200, 0.02);
      ours.push(d.ms);
      rss = d.rss;
    }
    results.real = { procs, vms: floor ? VMS : 0, stepS: 0.02, ourMs: median(ours), floorMs: floor ? median(floors) : null, ours, floors, hotMs: floor ? median(hot) : null, hot, rss };
    log(`bench: this machine's /proc (${procs} processes): scaph ${results.real.ourMs.toFixed(2)} ms/step, floor ${results.real.floorMs?.toFixed(2) ?? "-"} ms/step`);
  } finally {
    for (const c of sleepers) c.kill();
  }
}

// 2. Scrape latency with 1,000 processes, and node_exporter's on this machine.
/** One GET as Prometheus sends it (Accept-Encoding: gzip), timed from the request to the last byte, not decoded. */
function timedGet(url) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    httpGet(url, { headers: { "Accept-Encoding": "gzip" } }, (res) => {
      res.on("data", () => {});
      res.on("end", () => resolve(performance.now() - t0));
      res.on("error", reject);
    }).on("error", reject);
  });
}
async function scrapeLatencies(url, n, gapMs) {
  const times = [];
  for (let i = 0; i < n; i++) {
    times.push(await timedGet(url));
    await sleep(gapMs);
  }
  return times;
}
async function freePort() {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}
{
  const roots = synthHost(join(work, "scrape"), { processes: 1000, vms: 10 });
  const port = await freePort();
  const d = await startDaemon(["prometheus", "-a", "127.0.0.1", "-p", String(port), "--step", "0.5", "--procfs-path", roots.proc, "--powercap-path", roots.powercap]);
  const url = `http://127.0.0.1:${port}/metrics`;
  for (let i = 0; i < 100 && !(await fetch(url).then((r) => r.ok).catch(() => false)); i++) await sleep(100);
  await sleep(1500);
  const t = await scrapeLatencies(url, quick ? 200 : 1000, 7);
  results.scrape.push({ what: "scaph-host prometheus, 1,000 synthetic processes, default flags (every process), a step every 0.5 s", p50: pct(t, 50), p90: pct(t, 90), p99: pct(t, 99), n: t.length });
  results.rss.push({ what: "scaph-host prometheus, 1,000 processes, after the scrapes", ...(await rssSampled(d.child.pid)) });
  d.child.kill("SIGTERM");
  await new Promise((r) => d.child.on("exit", r));
  // Every process exported (Scaphandre's default): 1,000 and 10,000 of them, scrape size and RSS too
  for (const n of [1000, 10000]) {
    const r = synthHost(join(work, `scrape-all-${n}`), { processes: n, vms: 10 });
    const p = await freePort();
    const da = await startDaemon(["prometheus", "-a", "127.0.0.1", "-p", String(p), "--step", "0.5", "--procfs-path", r.proc, "--powercap-path", r.powercap, "-r", "."]);
    const u = `http://127.0.0.1:${p}/metrics`;
    for (let i = 0; i < 100 && !(await fetch(u).then((x) => x.ok).catch(() => false)); i++) await sleep(100);
    await sleep(1500);
    const bytes = (await (await fetch(u)).text()).length;
    const ta = await scrapeLatencies(u, quick ? 100 : n === 1000 ? 1000 : 300, 7);
    results.scrape.push({ what: `scaph-host prometheus, every one of ${n.toLocaleString("en")} synthetic processes (${(bytes / 1024).toFixed(0)} KB a scrape)`, p50: pct(ta, 50), p90: pct(ta, 90), p99: pct(ta, 99), n: ta.length });
    results.rss.push({ what: `scaph-host prometheus, every one of ${n.toLocaleString("en")} processes exported, after the scrapes`, ...(await rssSampled(da.child.pid)) });
    da.child.kill("SIGTERM");
    await new Promise((res) => da.child.on("exit", res));
  }
  const ne = spawnSync("sh", ["-c", "command -v prometheus-node-exporter || command -v node_exporter"], { encoding: "utf8" }).stdout.trim();
  if (ne) {
    const nport = await freePort();
    const child = spawn(ne, [`--web.listen-address=127.0.0.1:${nport}`], { stdio: "ignore" });
    const nurl = `http://127.0.0.1:${nport}/metrics`;
    for (let i = 0; i < 100 && !(await fetch(nurl).then((r) => r.ok).catch(() => false)); i++) await sleep(100);
    const nt = await scrapeLatencies(nurl, quick ? 200 : 1000, 7);
    results.scrape.push({ what: `node_exporter ${execFileSync(ne, ["--version"], { encoding: "utf8" }).split("\n")[0].split(" ")[2] ?? ""}, default collectors, this machine`, p50: pct(nt, 50), p90: pct(nt, 90), p99: pct(nt, 99), n: nt.length });
    results.rss.push({ what: "node_exporter, default collectors", ...(await rssSampled(child.pid)) });
    child.kill();
  } else log("bench: node_exporter not installed (apt-get install prometheus-node-exporter): no baseline scrape");
}

// 3. RSS after 1,000 steps (1,000 processes), and flat over 10,000 steps (100 processes).
{
  const roots = synthHost(join(work, "rss"), { processes: 1000, vms: 10 });
  const base = join(work, "rss", "base");
  const d = await startDaemon(["qemu", "--no-libvirt", "--vm-user", "0", "--procfs-path", roots.proc, "--powercap-path", roots.powercap, "--cgroup-path", roots.cgroup, "--base-dir", base, "--step", "0.01"]);
  await untilSteps(base, 1000);
  results.rss.push({ what: "scaph-host qemu, 1,000 processes, 10 VMs, after 1,000 steps", ...(await rssSampled(d.child.pid)) });
  d.child.kill("SIGTERM");
  await new Promise((r) => d.child.on("exit", r));
  // the same with libvirt loaded (koffi, libvirt.so.0 and its worker; the test driver answers the lists)
  const baseLv = join(work, "rss", "base-libvirt");
  const dl = await startDaemon(["qemu", "--connect", "test:///default", "--vm-user", "0", "--procfs-path", roots.proc, "--powercap-path", roots.powercap, "--cgroup-path", roots.cgroup, "--base-dir", baseLv, "--step", "0.01"]);
  await untilSteps(baseLv, 1000);
  results.rss.push({ what: "scaph-host qemu with libvirt (test:///default), 1,000 processes, 10 VMs, after 1,000 steps", ...(await rssSampled(dl.child.pid)) });
  dl.child.kill("SIGTERM");
  await new Promise((r) => dl.child.on("exit", r));
  const small = synthHost(join(work, "rss-long"), { processes: 100, vms: 10 });
  const base2 = join(work, "rss-long", "base");
  const d2 = await startDaemon(["qemu", "--no-libvirt", "--vm-user", "0", "--procfs-path", small.proc, "--powercap-path", small.powercap, "--cgroup-path", small.cgroup, "--base-dir", base2, "--step", "0.001"]);
  const marks = quick ? [1000, 3000] : [1000, 2500, 5000, 7500, 10000];
  const flat = [];
  for (const m of marks) {
    await untilSteps(base2, m);
    flat.push({ steps: m, bytes: rssOf(d2.child.pid) });
  }
  results.rssFlat = flat;
  d2.child.kill("SIGTERM");
  await new Promise((r) => d2.child.on("exit", r));
  results.rss.push({ what: "an idle Node.js (node -e 'setInterval(() => {}, 1000)')", ...(await idleNodeRss()) });
}

async function idleNodeRss() {
  const c = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  await sleep(1000);
  const r = await rssSampled(c.pid);
  c.kill();
  return r;
}

rmSync(work, { recursive: true, force: true });
writeReport(results);

/** The marginal cost of a process and of a VM, from this run's rows (fewest vs most of one, the other fixed). */
function slopes(cost) {
  const per = (key, fixedKey) => {
    const rows = cost.filter((c) => c.floorMs !== null);
    const groups = new Map();
    for (const c of rows) groups.set(c[fixedKey], [...(groups.get(c[fixedKey]) ?? []), c]);
    const g = [...groups.values()].filter((xs) => xs.length >= 2).sort((a, b) => b.length - a.length)[0];
    if (!g) return null;
    const lo = g.reduce((a, b) => (b[key] < a[key] ? b : a));
    const hi = g.reduce((a, b) => (b[key] > a[key] ? b : a));
    const n = hi[key] - lo[key];
    return { ours: (hi.ourMs - lo.ourMs) / n, floor: (hi.floorMs - lo.floorMs) / n };
  };
  const p = per("procs", "vms");
  const v = per("vms", "procs");
  const parts = [];
  if (p) parts.push(`one more process adds ${(p.ours * 1000).toFixed(1)} µs to a step (the floor: ${(p.floor * 1000).toFixed(1)} µs)`);
  if (v) parts.push(`one more VM ${v.ours.toFixed(2)} ms (the floor: ${v.floor.toFixed(2)} ms)`);
  return parts.length ? `cost grows linearly; in this run ${parts.join(", ")}. ` : "";
}

function writeReport(r) {
  const mb = (b) => `${(b / 1048576).toFixed(1)} MiB`;
  const runs = (xs) => `[${xs.map((x) => x.toFixed(2)).join(", ")}]`;
  /** step, scaph ms/step, floor ms/step, ratio, floor back to back, RSS: each median with its runs. */
  const costCells = (c) =>
    [
      `${c.stepS * 1000} ms`,
      `${c.ourMs.toFixed(2)} ${runs(c.ours)}`,
      c.floorMs === null ? "not measured (no cc)" : `${c.floorMs.toFixed(2)} ${runs(c.floors)}`,
      c.floorMs ? (c.ourMs / c.floorMs).toFixed(2) : "-",
      c.hotMs === null ? "-" : `${c.hotMs.toFixed(2)} ${runs(c.hot)}`,
      mb(c.rss),
    ].join(" | ");
  const costHead = "| step | scaph ms/step | floor ms/step | ratio | floor back to back, ms/step | scaph RSS |";
  const costRule = "| ---: | ---: | ---: | ---: | ---: | ---: |";
  const lines = [];
  lines.push("# Benchmarks", "");
  lines.push("Written by `npm run bench` (`bench/run.mjs`); every number below comes from one run of it, each beside its baseline from the same run. Re-run it on your machine rather than trusting these.", "");
  lines.push(`The daemon runs as its bin starts it: \`${Object.entries(nodeEnv).map(([k, v]) => `${k}=${v} `).join("")}node ${nodeFlags.join(" ")}\`: a small young generation (the loop makes little garbage, and V8 would otherwise grow it while the loop runs back to back), an old generation that starts at 4 MB and grows by a fifth at a time (V8's default growth left 10 MB of free heap at 1,000 processes, at no CPU cost measured), one malloc arena (2-3 MB less, for a process whose work is on one thread), and buffers over 128 KiB (a page) mapped and given back at once (glibc's moving threshold otherwise kept them in its heap: 3 MB less).`, "");
  lines.push(`Machine: ${r.machine.cpu}, ${r.machine.cores} cores, Linux ${r.machine.kernel}, Node.js ${r.machine.node}; ${r.machine.date}. Synthetic hosts written to ${r.machine.memRoot} (in memory, like procfs and the VM tmpfs).`, "");
  lines.push("## CPU per step of `scaph-host qemu`", "");
  lines.push("The daemon runs on a synthetic host (`bench/synth.mjs`: a `/proc` of N processes, M of them qemu VMs with libvirt cgroups, a one-socket powercap tree) and its own CPU time (`/proc/PID/stat` utime + stime) is read over many steps after 20 steps of warm-up; steps are counted in its status file. The floor is `bench/floor.c`, built with `cc -O2` by the bench, run at the daemon's cadence (a step every 20 ms, 250 ms at 10,000 processes: between two steps caches cool, and a step after a pause costs any program more than one run back to back, also given); per step it reads `/proc/stat`, `uptime`, `loadavg`, `meminfo`, lists the procfs root and reads every `PID/stat`, reads every zone's `energy_uj` and each VM's `cpu.stat`, and writes each VM's 4 `energy_uj` through a temporary file and `rename(2)`, parsing nothing beyond what it needs. scaph also checks that nothing was planted in a VM's tree (a `statx` of each zone's `name` and `max_energy_range_uj`, and of the tree's clock mark), keeps its state and status files, finds the VMs and splits the energy. Medians of 3 runs (each run's numbers in brackets).", "");
  lines.push(`| processes | VMs ${costHead}`, `| ---: | ---: ${costRule}`);
  for (const c of r.cost) {
    lines.push(`| ${c.procs} | ${c.vms} | ${costCells(c)} |`);
  }
  lines.push("", "![CPU per step against the number of processes](benchmarks-cost.svg)", "");
  lines.push("Reading these numbers: " + slopes(r.cost) + "Per process both do the same three system calls there (open, read, close of `/proc/PID/stat`: a synthetic host is a copy of /proc on tmpfs, where a file may be replaced, so scaph opens it anew each step); the difference is Node's cost around those calls (synchronous fs bindings, buffers) and the parsing. On a procfs scaph does less than the floor: see the next table. Per VM, scaph also checks its tree against planted files (a `statx` of each zone's `name` and `max_energy_range_uj`, every file written with `openat`/`renameat` on the open directory, through koffi: Node's fs has no *at calls) and opens each directory anew every step (a descriptor held open would keep the VM's tmpfs busy, so `teardown` could not unmount it): with few processes and many VMs, the ratio is higher.", "");
  if (r.containers) {
    const c = r.containers;
    lines.push("With `--containers`, on the same synthetic host with a container host's cgroups (a third of the processes in Docker containers, a third in pods' containerd scopes, ten processes a container), alternated with runs without it in this same run (no Docker or API server answers: their clients only retry in the background). A process's cgroup file is read once, when it is first seen; a step adds a map lookup per process and the containers' sums:", "");
    lines.push("| processes | without ms/step | with ms/step | ratio | per process |", "| ---: | ---: | ---: | ---: | ---: |");
    lines.push(`| ${c.procs} | ${c.withoutMs.toFixed(2)} ${runs(c.without)} | ${c.withMs.toFixed(2)} ${runs(c.with)} | ${(c.withMs / c.withoutMs).toFixed(2)} | ${((1000 * (c.withMs - c.withoutMs)) / c.procs).toFixed(2)} µs more |`, "");
  }
  if (r.frames) {
    const c = r.frames;
    lines.push(`The rows above move each tree once a step (\`--substeps 1\`). By default (\`--substeps ${c.substeps}\`) each step's energy is shown over the next step in ${c.substeps} frames, so that a reader with its own period (node_exporter's rapl collector, Scaphandre or Kepler in a VM) reads its window's energy; each frame writes every zone's \`energy_uj\` of every tree again. Their cost, at a step of 0.5 s, on a synthetic host that runs (its counters and its VMs' CPU time move every 100 ms, so that every VM gets energy every step), alternated with runs without them in this same run:`, "");
    lines.push("| processes | VMs | once a step, ms/step | in frames, ms/step | ratio | per VM and frame |", "| ---: | ---: | ---: | ---: | ---: | ---: |");
    lines.push(`| ${c.procs} | ${c.vms} | ${c.wholeMs.toFixed(2)} ${runs(c.whole)} | ${c.framedMs.toFixed(2)} ${runs(c.framed)} | ${(c.framedMs / c.wholeMs).toFixed(2)} | ${((1000 * (c.framedMs - c.wholeMs)) / (c.vms * (c.substeps - 1))).toFixed(1)} µs |`, "");
  }
  if (r.real) {
    const c = r.real;
    lines.push(`On this machine's own \`/proc\` instead, where the kernel generates each \`/proc/PID/stat\` at its read, with 1,000 sleeping processes and ${c.vms} VMs added by the bench (processes of a binary named \`qemu-system-x86_64\`, a C \`pause()\`, with \`-name guest=vm-N\`; the synthetic powercap tree and VM cgroups). There scaph holds each \`/proc/PID/stat\` open and reads it with one \`pread(2)\` a step (the kernel answers ESRCH once its process is gone), where the floor opens, reads and closes it:`, "");
    lines.push(`| processes | VMs ${costHead}`, `| ---: | ---: ${costRule}`);
    lines.push(`| ${c.procs} | ${c.vms} | ${costCells(c)} |`, "");
    lines.push("Most of either's time there is the kernel's: generating a stat line costs it far more than a tmpfs read, and the same for both.", "");
  }
  lines.push("## Scrape latency", "");
  lines.push("Sequential scrapes, one every 7 ms, timed by the client from the request to the last byte, on 127.0.0.1; the client asks for gzip, as Prometheus does, and both exporters gzip (the body is not decoded: that is the scraper's cost, not the exporter's). A scrape serves the newest step of the loop and never waits on /proc for more than a chunk: the loop reads 256 processes between two turns of the event loop. Each step's page is written and gzipped once, for every scrape of that step (node_exporter collects and gzips at each scrape).", "");
  lines.push("| exporter | p50 ms | p90 ms | p99 ms | scrapes |", "| --- | ---: | ---: | ---: | ---: |");
  for (const s of r.scrape) lines.push(`| ${s.what} | ${s.p50.toFixed(2)} | ${s.p90.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.n} |`);
  lines.push("", "## Memory", "");
  lines.push("RSS sampled 20 times over 2 s as each process goes on (a daemon's swings by 2-3 MiB between two collections of its heap): the median, and the least and most.", "");
  lines.push("| process | RSS, median | least | most |", "| --- | ---: | ---: | ---: |");
  for (const x of r.rss) lines.push(`| ${x.what} | ${mb(x.bytes)} | ${mb(x.min)} | ${mb(x.max)} |`);
  lines.push("", "RSS of `scaph-host qemu` (100 processes, 10 VMs) over 10,000 steps:", "");
  lines.push("| steps | RSS |", "| ---: | ---: |");
  for (const f of r.rssFlat) lines.push(`| ${f.steps} | ${mb(f.bytes)} |`);
  lines.push("", "The daemons above step every 10 ms (over 10,000 steps, every 1 ms), 200 times faster than installed or more, so that 1,000 steps take seconds; V8 then promotes to its old space and collects at a pace a real host never sees, and after 1,000 such steps the qemu daemon's heap has not reached its steady state: by hand, 15,000 of them, it holds at 67.0 MiB (67.6 MiB before the per-process arrays were let go, see History). `npm run bench:rss` runs it as installed instead (its default step of 2 s, 16 frames a step) on the same 1,000 processes and 10 VMs, and prints its RSS each minute. By hand on this machine, 40 minutes, beside the code before the per-process arrays were let go in the same 40 minutes: 59.9-60.0 MiB at minutes 39-40 (57.4 at the first; still rising by about 0.1 MiB a minute), against 64.3 MiB (flat from minute 13); 10.7 s of CPU in the 40 minutes against 11.7 s (0.45 % of a CPU against 0.49 %).");
  lines.push("", "## History", "");
  lines.push("Before the measurement core was rewritten (fs.promises per file, cmdline and exe read every step, energy split twice), the same daemon on the same synthetic host (1,000 processes, 10 VMs, step 0.25 s) used 84.5 ms of CPU per step against 7.6 ms for the floor (11×), and 115 MB of RSS; measured by hand on this machine before commit \"One measurement pipeline\".", "");
  lines.push("Before the per-process arrays were let go (each Snapshot's copy of the processes, their CPU deltas, memory, shares and energies lived until the next step, so V8 promoted about 27 KB a step to its old space, which it compacted every 3 s at a step of 10 ms), the same bench gave the qemu daemon 66.3 MiB after 1,000 steps (after: 62.6 MiB in one run, 66.2 MiB in the next, for after 1,000 such steps the heap is not at its steady state); at its installed step, 64.3 MiB after 40 minutes (see Memory).", "");
  lines.push("Before the VM trees were written with the *at system calls through koffi (they went through paths under `/proc/self/fd/N`, with an `lstat` and its Stats object per check), the same daemon on the same synthetic host, alternated with it by hand in one session: 1,000 processes and 100 VMs 17.3 ms/step against 14.6; 10 VMs 7.10 against 6.84; a tree alone 92 µs against 62 µs a VM and step. koffi costs 1.6 MiB of RSS where libvirt does not load it already (0.6 MiB where it does).", "");
  lines.push("Before the levers of \"Close to the floor\" (held `/proc/PID/stat` files, /proc read in chunks, one page Buffer gzipped once, the heap and malloc settings), the same bench (one run each, the floor back to back, scrapes read with `fetch`) gave: 1,000 synthetic processes and 10 VMs 6.45 ms/step against 1.62 for the floor (3.99); this machine's `/proc` 9.65 against 4.00 (2.41); a scrape of every one of 1,000 processes p99 18.5 ms against node_exporter's 10.9; RSS 66.6-70.2 MiB for the exporter, 77.1 MiB for the qemu daemon, 156.7 MiB at 10,000 processes. The held files alone, on this machine's `/proc` with 1,000 sleeping processes, a reading every 20 ms: 6.4-6.9 ms of CPU a reading against 8.6-9.2 ms opening each file (the process table by itself, two runs each).", "");
  writeFileSync(join(repo, "docs/benchmarks.md"), lines.join("\n"));
  writeFileSync(join(repo, "docs/benchmarks-cost.svg"), svg(r.cost.filter((c) => c.vms === 10)));
  log("bench: wrote docs/benchmarks.md and docs/benchmarks-cost.svg");
}

/** A small log-x plot of ms/step against processes: scaph and the floor. */
function svg(rows) {
  const W = 560, H = 340, L = 60, R = 20, T = 30, B = 50;
  const xs = rows.map((r) => Math.log10(r.procs));
  const ymax = Math.max(...rows.map((r) => Math.max(r.ourMs, r.floorMs ?? 0))) * 1.1;
  const X = (v) => L + ((v - Math.min(...xs)) / Math.max(1e-9, Math.max(...xs) - Math.min(...xs))) * (W - L - R);
  const Y = (v) => H - B - (v / ymax) * (H - T - B);
  const line = (key, color) => {
    const pts = rows.filter((r) => r[key] !== null).map((r) => `${X(Math.log10(r.procs)).toFixed(1)},${Y(r[key]).toFixed(1)}`);
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(" ")}"/>` + pts.map((p) => `<circle cx="${p.split(",")[0]}" cy="${p.split(",")[1]}" r="3" fill="${color}"/>`).join("");
  };
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * ymax);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="18" text-anchor="middle">CPU per step, 10 VMs (ms, lower is better)</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>
${ticks.map((t) => `<text x="${L - 6}" y="${Y(t) + 4}" text-anchor="end">${t.toFixed(1)}</text><line x1="${L}" y1="${Y(t)}" x2="${W - R}" y2="${Y(t)}" stroke="#ddd"/>`).join("\n")}
${rows.map((r) => `<text x="${X(Math.log10(r.procs))}" y="${H - B + 16}" text-anchor="middle">${r.procs}</text>`).join("\n")}
<text x="${W / 2}" y="${H - 12}" text-anchor="middle">processes (log scale)</text>
${line("ourMs", "#c0392b")}${line("floorMs", "#2c3e50")}
<text x="${L + 10}" y="${T + 14}" fill="#c0392b">scaph-host qemu</text><text x="${L + 10}" y="${T + 30}" fill="#2c3e50">C floor (bench/floor.c)</text>
</svg>
`;
}
