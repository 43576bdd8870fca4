import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { copyFixture, PowerSimulator, removeTree } from "@scaph/test-support";
import { guestBin, hostBin, runNode } from "../helpers/cli.js";

interface Report {
  host: { consumption: number; value_source: string; timestamp: number };
  consumers: { pid: number; exe: string; consumption: number }[];
  sockets: { id: number; consumption: number; domains: { name: string; consumption: number }[] }[];
}

/** Fixture trees advanced in real time: package 15 W, core 8 W, dram 3 W; nginx 0.5 CPU, python 0.25 CPU. */
async function simulatedHost() {
  const powercap = await copyFixture("powercap/intel-1socket");
  const proc = await copyFixture("proc/basic");
  const sim = new PowerSimulator({
    powercapRoot: powercap,
    zones: [
      { zone: "intel-rapl:0", watts: 15 },
      { zone: "intel-rapl:0:0", watts: 8 },
      { zone: "intel-rapl:0:2", watts: 3 },
    ],
    procRoot: proc,
    processes: [
      { pid: 100, cpus: 0.5 },
      { pid: 200, cpus: 0.25 },
    ],
  });
  sim.start();
  return {
    powercap,
    proc,
    async stop() {
      await sim.stop();
      await removeTree(powercap);
      await removeTree(proc);
    },
  };
}

const near = (actual: number, expected: number, rel: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= expected * rel, `${what}: ${actual} not within ${rel * 100}% of ${expected}`);

test("scaph-host json on a simulated host reports the injected power", async () => {
  const h = await simulatedHost();
  try {
    const out = join(dirname(h.proc), "report.json");
    const r = await runNode(hostBin, ["json", "-t", "3", "-s", "1", "-f", out, "--powercap-path", h.powercap, "--procfs-path", h.proc]);
    assert.equal(r.code, 0, r.stderr);
    const reports = JSON.parse(await readFile(out, "utf8")) as Report[];
    assert.equal(reports.length, 3, "-t 3 -s 1: three reports, however loaded the machine");
    for (const rep of reports) {
      // The simulator runs in real time beside the CLI, so absolute powers are checked loosely; the ratios, which
      // do not depend on when the CLI reads, tightly. Exact values are unit-tested with a fake clock.
      near(rep.host.consumption, 18e6, 0.25, "host µW (package 15 W + dram 3 W)");
      assert.equal(rep.host.value_source, "powercap_rapl_pkg");
      const pkg = rep.sockets[0]!.consumption;
      near(rep.host.consumption / pkg, 18 / 15, 0.03, "host / package");
      near(rep.sockets[0]!.domains.find((d) => d.name === "core")!.consumption / pkg, 8 / 15, 0.03, "core / package");
      const nginx = rep.consumers.find((c) => c.pid === 100);
      const py = rep.consumers.find((c) => c.pid === 200);
      near(nginx!.consumption / rep.host.consumption, 2 / 3, 0.05, "nginx's share (2/3 of busy time)");
      near(py!.consumption / rep.host.consumption, 1 / 3, 0.1, "python's share (1/3 of busy time)");
      assert.equal(rep.consumers[0]!.pid, 100);
    }
    // stdout: a JSON array too
    const s = await runNode(hostBin, ["json", "-t", "1", "-s", "0.5", "--max-top-consumers", "1", "--powercap-path", h.powercap, "--procfs-path", h.proc]);
    assert.equal(s.code, 0, s.stderr);
    const arr = JSON.parse(s.stdout) as Report[];
    assert.equal(arr.length, 2);
    assert.equal(arr[0]!.consumers.length, 1);
  } finally {
    await h.stop();
  }
});

test("scaph-host stdout prints Scaphandre's layout every step", async () => {
  const h = await simulatedHost();
  try {
    const r = await runNode(hostBin, ["stdout", "-t", "2", "-s", "1", "-p", "2", "--powercap-path", h.powercap, "--procfs-path", h.proc]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith("Measurement step is: 1s\n"), r.stdout.slice(0, 80));
    const steps = r.stdout
      .slice("Measurement step is: 1s\n".length)
      .split("-".repeat(60) + "\n\n")
      .filter((x) => x.length > 0);
    assert.equal(steps.length, 2);
    const w = "(\\d+(?:\\.\\d+)?) W";
    for (const step of steps) {
      const lines = step.split("\n");
      const host = new RegExp(`^Host:\\t${w} from powercap_rapl_pkg$`).exec(lines[0]!);
      assert.ok(host, lines[0]);
      assert.equal(lines[1], "\tpackage \tcore\t\tuncore\t\tdram");
      const sock = new RegExp(`^Socket0\\t${w} \\|\\t${w}\\t0 W\\t${w}\\t$`).exec(lines[2]!);
      assert.ok(sock, lines[2]);
      assert.equal(lines[3], "");
      assert.equal(lines[4], "Top 2 consumers:");
      assert.equal(lines[5], "Power\t\tPID\tExe");
      const nginx = new RegExp(`^${w}\\t100\\t"nginx"$`).exec(lines[6]!);
      const py = new RegExp(`^${w}\\t200\\t"my \\(weird\\) proc"$`).exec(lines[7]!);
      assert.ok(nginx && py, `${lines[6]}\n${lines[7]}`);
      const [hostW, pkgW, coreW, dramW] = [host[1], sock[1], sock[2], sock[3]].map(Number) as [number, number, number, number];
      near(hostW, 18, 0.25, "host W");
      near(hostW, pkgW + dramW, 0.001, "host = package + dram");
      near(coreW / pkgW, 8 / 15, 0.03, "core / package");
      near(Number(nginx[1]) / Number(py[1]), 2, 0.1, "nginx / python");
    }
  } finally {
    await h.stop();
  }
});

test("--sensor estimate is global, reports its value source, and runs on real /proc", async () => {
  const r = await runNode(hostBin, ["--sensor", "estimate", "--tdp-watts", "40", "--idle-watts", "40", "json", "-t", "1", "-s", "0.5"]);
  assert.equal(r.code, 0, r.stderr);
  const reps = JSON.parse(r.stdout) as Report[];
  assert.equal(reps[0]!.host.value_source, "estimate");
  near(reps[1]!.host.consumption, 40e6, 0.02, "estimate with idle = tdp = 40 W");
});

test("the global options work after the subcommand too, as a unit's $SCAPH_HOST_PROMETHEUS_OPTS puts them", async () => {
  const r = await runNode(hostBin, ["json", "-t", "1", "-s", "0.5", "--sensor", "estimate", "--tdp-watts", "30", "--idle-watts", "30", "-vv"]);
  assert.equal(r.code, 0, r.stderr);
  const reps = JSON.parse(r.stdout) as Report[];
  assert.equal(reps[0]!.host.value_source, "estimate");
  near(reps[1]!.host.consumption, 30e6, 0.02, "estimate with idle = tdp = 30 W");
  assert.match(r.stderr, / DEBUG measure: /, "-vv after the subcommand: debug lines");
  // after wins over before; -s after the subcommand stays its --step
  const both = await runNode(hostBin, ["--sensor", "powercap_rapl", "json", "-t", "1", "-s", "0.5", "--sensor=estimate"]);
  assert.equal(both.code, 0, both.stderr);
  assert.equal((JSON.parse(both.stdout) as Report[])[0]!.host.value_source, "estimate");
  const guest = await runNode(guestBin, ["stdout", "--sensor", "nope"]);
  assert.equal(guest.code, 1);
  assert.match(guest.stderr, /argument 'nope' is invalid\. Allowed choices are powercap_rapl, estimate/);
});

test("no RAPL tree: exit 1 and a message with the fixes", async () => {
  const r = await runNode(hostBin, ["stdout", "-t", "1", "--powercap-path", "/nonexistent/powercap"]);
  assert.equal(r.code, 1);
  for (const s of ["modprobe intel_rapl_common", "--powercap-path", "--sensor estimate", "scaph-guest"]) assert.ok(r.stderr.includes(s), r.stderr);
});

test("unknown flags and bad values are errors; conflicting -p and -r too", async () => {
  const a = await runNode(hostBin, ["stdout", "--bogus"]);
  assert.notEqual(a.code, 0);
  assert.match(a.stderr, /unknown option '--bogus'/);
  const b = await runNode(hostBin, ["stdout", "-s", "abc"]);
  assert.notEqual(b.code, 0);
  assert.match(b.stderr, /--step must be a number/);
  const c = await runNode(hostBin, ["stdout", "-p", "3", "-r", "x"]);
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /cannot be used with/);
  const d = await runNode(hostBin, ["--sensor", "msr", "stdout"]);
  assert.match(d.stderr, /Allowed choices are powercap_rapl, estimate/);
});

test("every --help is complete", async () => {
  for (const [args, flags] of [
    [["--help"], ["--sensor", "--tdp-watts", "--idle-watts", "stdout", "json"]],
    [
      ["stdout", "--help"],
      ["--timeout", "--step", "--processes", "--regex-filter", "--powercap-path", "--procfs-path"],
    ],
    [
      ["json", "--help"],
      ["--timeout", "--step", "--step-nano", "--file", "--max-top-consumers", "--process-regex"],
    ],
    [
      ["riemann", "--help"],
      ["--address", "--port", "--dispatch", "--mtls", "--ca", "--cert", "--key", "--qemu"],
    ],
    [
      ["warp10", "--help"],
      ["--host", "--port", "--scheme", "--step", "--write-token", "--qemu"],
    ],
    [["warpten", "--help"], ["--write-token"]],
    [
      ["prometheus-push", "--help"],
      ["--host", "--port", "--suffix", "--scheme", "--step", "--job", "--no-tls-check", "--qemu"],
    ],
    [
      ["qemu", "--help"],
      ["--auto-setup", "--domains", "--channel-dir", "--prometheus"],
    ],
    [
      ["teardown", "--help"],
      ["--force", "--dry-run"],
    ],
  ] as const) {
    const r = await runNode(hostBin, args);
    assert.equal(r.code, 0);
    for (const f of flags) assert.ok(r.stdout.includes(f), `${args.join(" ")} lacks ${f}`);
  }
});

test("energy_uj unreadable (EACCES): a message naming CVE-2020-8694 and the fix", async () => {
  const root = await copyFixture("powercap/amd");
  try {
    await chmod(dirname(root), 0o755);
    await chmod(join(root, "intel-rapl:0", "energy_uj"), 0o000);
    const asRoot = process.getuid?.() === 0;
    const wrapper = asRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
    const r = await runNode(hostBin, ["stdout", "-t", "1", "--powercap-path", root, "--procfs-path", "/proc"], { wrapper });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /CVE-2020-8694/);
    assert.match(r.stderr, /chmod a\+r/);
  } finally {
    await removeTree(root);
  }
});

test("every scaph-guest --help is complete, and its commands' options do not clash", async () => {
  for (const [args, flags] of [
    [["--help"], ["--sensor", "stdout", "json", "prometheus", "channel", "mount"]],
    [
      ["prometheus", "--help"],
      ["--port", "--step", "--channel-port", "--channel-device", "--no-channel", "--no-wait", "--powercap-path"],
    ],
    [
      ["json", "--help"],
      ["--file", "--channel-port", "--no-channel"],
    ],
    [
      ["stdout", "--help"],
      ["--processes", "--channel-port"],
    ],
    [
      ["channel", "--help"],
      ["--path", "--channel-port", "--channel-device", "--sysfs-path", "--dev-path", "--no-tmpfs"],
    ],
    [
      ["mount", "--help"],
      ["--transport", "--path"],
    ],
    [
      ["riemann", "--help"],
      ["--address", "--dispatch", "--mtls", "--no-channel"],
    ],
    [
      ["warp10", "--help"],
      ["--write-token", "--no-channel"],
    ],
    [
      ["prometheus-push", "--help"],
      ["--job", "--no-channel"],
    ],
  ] as const) {
    const r = await runNode(guestBin, args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    for (const f of flags) assert.ok(r.stdout.includes(f), `scaph-guest ${args.join(" ")} lacks ${f}`);
  }
});

test("scaph-host qemu as a user: one message at start naming the base dir and the fix, exit 1", async () => {
  const dir = await mkdtemp(join(tmpdir(), "scaph-user-"));
  try {
    await chmod(dir, 0o555); // no one but root may write there
    const base = join(dir, "base");
    // run as root (not by the test runner): as nobody, through util-linux's setpriv
    const asUser = process.getuid?.() === 0 ? { wrapper: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] } : {};
    const r = await runNode(hostBin, ["--sensor", "estimate", "qemu", "--no-libvirt", "--base-dir", base, "-t", "2"], asUser);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot write the VM trees' base dir ${base}: EACCES`));
    assert.match(r.stderr, /run it as root/);
    assert.doesNotMatch(r.stderr, /\/proc\/self\/fd/);
    assert.equal(r.stderr.trim().split("\n").length, 2, r.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("Scaphandre's --vm on scaph-host: refused before anything runs, with the hint to run scaph-guest", async () => {
  for (const args of [
    ["--vm", "prometheus"],
    ["prometheus", "--vm"],
    ["stdout", "-t", "1", "--vm"],
  ]) {
    const r = await runNode(hostBin, args);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "", "nothing measured");
    assert.match(r.stderr, /^scaph-host: --vm: scaph-host runs on the host\. Inside a VM \(Scaphandre's --vm\), run scaph-guest/);
  }
  const other = await runNode(hostBin, ["prometheus", "--foo"]);
  assert.doesNotMatch(other.stderr, /scaph-guest/, "the hint is for --vm only");
});

test("scaph-guest stdout -t 2 with no tree: gives up after its -t, naming what is missing and how to mount it", async () => {
  const t0 = Date.now();
  const r = await runNode(guestBin, ["stdout", "-t", "2", "--no-channel", "--powercap-path", "/nonexistent/scaphandre"]);
  console.log(`# ended after ${Date.now() - t0} ms`);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /The powercap tree at \/nonexistent\/scaphandre is absent/);
  assert.match(r.stderr, /mount -t virtiofs scaphandre \/nonexistent\/scaphandre/);
  assert.match(r.stderr, /Gave up waiting after 2 s \(-t\)/);
});

test("Scaphandre's flags run: obsolete ones say in one line that they do nothing, json --step_nano, -V after a subcommand, scaph-guest --vm", async () => {
  const powercap = await copyFixture("powercap/intel-1socket");
  try {
    const r = await runNode(hostBin, [
      "--sensor-buffer-per-socket-max-kB",
      "8",
      "--sensor-buffer-per-domain-max-kB",
      "4",
      "json",
      "-t",
      "1",
      "-s",
      "0",
      "--step_nano",
      "500000000",
      "--powercap-path",
      powercap,
      "--sensor-buffer-per-socket-max-kb",
      "8",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Report[]).length, 2, "-t 1 at a 0.5 s step (--step_nano): two reports");
    assert.equal(r.stderr.match(/has no effect \(scaph keeps no sensor buffer\)/g)?.length, 3, r.stderr);
    for (const [bin, args] of [
      [hostBin, ["prometheus", "-V"]],
      [hostBin, ["json", "--version"]],
      [guestBin, ["stdout", "-V"]],
    ] as const) {
      const v = await runNode(bin, [...args]);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
    }
    const vm = await runNode(guestBin, ["--vm", "stdout", "-t", "1", "-s", "0.5", "--no-channel", "--powercap-path", powercap]);
    assert.equal(vm.code, 0, vm.stderr);
    assert.match(vm.stderr, /--vm has no effect \(scaph-guest always reads this VM's tree or channel\)/);
    assert.match(vm.stdout, /^Host:\t/m);
  } finally {
    await removeTree(powercap);
  }
});
