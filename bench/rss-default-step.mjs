#!/usr/bin/env node
// npm run bench:rss -- [minutes]: RSS and CPU of `scaph-host qemu` as it runs
// installed (its default step of 2 s and 16 frames a step, the bin's node
// flags and malloc settings), on the synthetic host of 1,000 processes and
// 10 VMs, for `minutes` (default 10). Prints, each minute, the median, least
// and most of its RSS sampled every 2 s, and the CPU it has used.
//
// npm run bench runs its daemons 100-200 times faster than this, so that its
// 1,000 steps take seconds: V8 then promotes and collects at a pace a real
// host never sees, and its RSS rows are that pace's. This is the pace an
// operator's host sees.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { synthHost } from "./synth.mjs";

const minutes = Number(process.argv[2] ?? 10);
if (!(minutes >= 1)) {
  process.stderr.write("usage: npm run bench:rss -- [minutes, at least 1]\n");
  process.exit(2);
}
const repo = fileURLToPath(new URL("..", import.meta.url));
const hostBin = join(repo, "host/bin/scaph-host.js");
const shebang = readFileSync(hostBin, "utf8").split("\n")[0];
const nodeFlags = (shebang.match(/\bnode\s+(.*)$/)?.[1] ?? "").split(/\s+/).filter(Boolean);
const nodeEnv = Object.fromEntries([...(shebang.match(/-S\s+(.*?)\bnode\b/)?.[1] ?? "").matchAll(/(\w+)=(\S*)/g)].map((m) => [m[1], m[2]]));
const work = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "scaph-bench-rss-"));
const roots = synthHost(join(work, "host"), { processes: 1000, vms: 10 });
const args = [
  "qemu",
  "--no-libvirt",
  "--vm-user",
  "0",
  "--procfs-path",
  roots.proc,
  "--powercap-path",
  roots.powercap,
  "--cgroup-path",
  roots.cgroup,
  "--base-dir",
  join(work, "base"),
];
const child = spawn(process.execPath, [...nodeFlags, hostBin, ...args], { stdio: ["ignore", "ignore", "ignore"], env: { ...process.env, ...nodeEnv } });
const HZ = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssMiB = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
const cpuS = () => {
  const s = readFileSync(`/proc/${child.pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / HZ;
};
const stop = async () => {
  if (child.exitCode === null) {
    child.kill("SIGTERM");
    await new Promise((r) => child.on("exit", r));
  }
  rmSync(work, { recursive: true, force: true });
};
process.on("SIGINT", () => void stop().then(() => process.exit(130)));

console.log(`scaph-host qemu, 1,000 synthetic processes, 10 VMs, its default step (2 s, 16 frames), ${minutes} min:`);
console.log("| minute | RSS, median | least | most | CPU used |");
console.log("| ---: | ---: | ---: | ---: | ---: |");
const t0 = Date.now();
await sleep(1000);
for (let m = 1; m <= minutes && child.exitCode === null; m++) {
  const xs = [];
  while (Date.now() - t0 < m * 60_000 && child.exitCode === null) {
    const x = rssMiB();
    if (Number.isFinite(x)) xs.push(x);
    await sleep(2000);
  }
  if (xs.length === 0) break;
  xs.sort((a, b) => a - b);
  const f = (x) => `${x.toFixed(1)} MiB`;
  console.log(`| ${m} | ${f(xs[Math.floor(xs.length / 2)])} | ${f(xs[0])} | ${f(xs[xs.length - 1])} | ${cpuS().toFixed(1)} s |`);
}
const died = child.exitCode !== null;
await stop();
if (died) {
  process.stderr.write("bench:rss: the daemon exited before the end\n");
  process.exit(1);
}
