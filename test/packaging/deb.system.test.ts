/**
 * The .deb packages on this machine, as an operator installs them: dpkg -i,
 * apt-get -f install, the commands run (the host's libvirt binding and
 * measurement included), the units pass systemd-analyze verify, the man
 * pages render clean, the services are enabled; dpkg -r takes every file
 * and symlink away (conffiles stay until purge, as Debian wants).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { cachedDebs, scaphVersion, testSupportIn } from "../helpers/packages.js";

const PACKAGES = ["scaph-host", "scaph-guest"] as const;
/** Left while the test's packages are installed: a later run may remove them; anyone else's it must not touch. */
const MARKER = "/var/lib/scaph-tests/packages-installed-by-test";
const UNITS = ["scaph-host-qemu.service", "scaph-host-prometheus.service", "scaph-guest.service", "scaph-guest-channel.service", "var-scaphandre.mount"];
/**
 * The most exposure `systemd-analyze security` may rate each service. 2.0 for all but scaph-host-qemu,
 * which needs root, CAP_DAC_OVERRIDE (libvirt's channel sockets belong to the qemu user) and the network
 * (its --prometheus); an IP allow list would break remote scrapes without a sign (systemd/README.md).
 */
const MAX_EXPOSURE: Record<string, number> = {
  "scaph-host-qemu.service": 2.1,
  "scaph-host-prometheus.service": 2.0,
  "scaph-guest.service": 2.0,
  "scaph-guest-channel.service": 2.0,
};
const dir = mkdtempSync(join(tmpdir(), "scaph-deb-"));

function sh(cmd: string, args: readonly string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}
const installed = (pkg: string): boolean => /install ok installed|config-files/.test(sh("dpkg-query", ["-W", "-f=${Status}", pkg]).stdout);
const purge = (): void => {
  sh("dpkg", ["-P", ...PACKAGES]);
  rmSync(MARKER, { force: true });
};
after(() => {
  if (existsSync(MARKER)) purge();
  rmSync(dir, { recursive: true, force: true });
});

/** The non-directory entries of a .deb (files, symlinks), as absolute paths. */
function payloadOf(deb: string): string[] {
  return execFileSync("dpkg-deb", ["-c", deb], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l && !l.startsWith("d"))
    .map((l) => (l.split(/\s+/).slice(5).join(" ").split(" -> ")[0] as string).replace(/^\./, ""));
}
const present = (p: string): boolean => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};
const scaphUnitLinks = (): string[] =>
  readdirSync("/etc/systemd/system", { recursive: true, encoding: "utf8" }).filter((p) => /scaph-(host|guest)/.test(p));

test("the .deb packages install, run, verify and remove cleanly", async () => {
  requireRoot("it installs the packages with dpkg");
  for (const p of PACKAGES) {
    if (installed(p) && !existsSync(MARKER)) {
      assert.fail(`${p} is installed on this machine, not by this test: the test installs and removes it. Remove it first (dpkg -r ${p}), or run the tests elsewhere.`);
    }
  }
  if (existsSync(MARKER)) purge(); // left by an interrupted run
  const built = await cachedDebs();
  const debs = PACKAGES.map((p) => join(built, `${p}_${scaphVersion}_amd64.deb`));
  const payload = debs.flatMap(payloadOf);
  // no test support in what the packages ship
  for (const deb of debs) {
    const x = join(dir, `payload-${deb.split("/").at(-1)}`);
    execFileSync("dpkg-deb", ["-x", deb, x]);
    assert.deepEqual(testSupportIn(x), [], `test support in ${deb}`);
    rmSync(x, { recursive: true, force: true });
  }
  const conffiles = ["/etc/default/scaph-host", "/etc/default/scaph-guest"];

  mkdirSync(join(MARKER, ".."), { recursive: true });
  writeFileSync(MARKER, "");
  const i = sh("dpkg", ["-i", ...debs]);
  assert.equal(i.code, 0, `dpkg -i: ${i.stderr}`);
  const f = sh("apt-get", ["-f", "install", "-y"]);
  assert.equal(f.code, 0, `apt-get -f install: ${f.stderr}`);
  for (const p of PACKAGES) assert.ok(installed(p), `${p} installed`);
  for (const p of payload) assert.ok(present(p), `${p} installed`);

  // Self-contained: each package carries its runtime, and depends on nothing Debian 12 or Ubuntu 22.04 lack
  for (const deb of debs) {
    const depends = execFileSync("dpkg-deb", ["-f", deb, "Depends"], { encoding: "utf8" }).trim();
    assert.doesNotMatch(depends, /nodejs/, `${deb}: Depends: ${depends}`);
    console.log(`# ${deb.split("/").at(-1)}: ${(statSync(deb).size / 2 ** 20).toFixed(1)} MiB; Depends: ${depends}`);
  }
  const startMs: number[] = [];
  for (let n = 0; n < 5; n++) {
    const t0 = performance.now();
    sh("/usr/bin/scaph-host", ["--version"]);
    startMs.push(performance.now() - t0);
  }
  console.log(`# scaph-host --version, as installed: ${startMs.sort((a, b) => a - b)[2]?.toFixed(0)} ms (median of 5)`);

  // The commands, as installed
  assert.equal(sh("/usr/bin/scaph-host", ["--version"]).stdout.trim(), scaphVersion);
  assert.equal(sh("/usr/bin/scaph-guest", ["--version"]).stdout.trim(), scaphVersion);
  const help = sh("/usr/bin/scaph-host", ["--help"]);
  assert.equal(help.code, 0, help.stderr);
  // libvirt through the packaged koffi
  const dry = sh("/usr/bin/scaph-host", ["setup", "test", "--connect", "test:///default", "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /<filesystem type="mount"/);
  // a measurement: 20 W on a simulated package
  const powercap = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({ powercapRoot: powercap, zones: [{ zone: "intel-rapl:0", watts: 20 }] });
  sim.start();
  try {
    // asynchronously: the simulator ticks in this process
    const j = await promisify(execFile)("/usr/bin/scaph-host", ["json", "--powercap-path", powercap, "--timeout", "3", "--step", "1"], { encoding: "utf8" });
    const last = (JSON.parse(j.stdout) as { host: { consumption: number } }[]).at(-1);
    assert.ok(Math.abs((last?.host.consumption ?? 0) - 20e6) < 2e6, `host power ${last?.host.consumption} µW, expected 20 W`);
  } finally {
    await sim.stop();
    await removeTree(powercap);
  }

  // The units: systemd-analyze verify says nothing at all (it exits 0 even on unknown keys)
  const v = sh("systemd-analyze", ["verify", ...UNITS.map((u) => `/lib/systemd/system/${u}`)]);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stderr.trim(), "", "systemd-analyze verify is silent");
  // Their sandboxes: systemd's own exposure rating, per service (reported, and bounded)
  for (const [u, max] of Object.entries(MAX_EXPOSURE)) {
    const s = sh("systemd-analyze", ["security", "--offline=true", "--no-pager", `/lib/systemd/system/${u}`]);
    const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(s.stdout)?.[1] ?? NaN);
    console.log(`# systemd-analyze security ${u}: exposure ${score}`);
    assert.ok(score <= max, `${u}: systemd-analyze security rates it ${score}, above ${max}:\n${s.stdout}${s.stderr}`);
  }
  // Enabled by the postinst: the host's daemon and the guest's exporter; the channel receiver is udev's
  for (const u of ["scaph-host-qemu.service", "scaph-guest.service"]) assert.ok(present(`/etc/systemd/system/multi-user.target.wants/${u}`), `${u} enabled`);
  // The man pages render without a warning, every command documented
  for (const [page, cmds] of [["scaph-host", ["qemu", "setup", "teardown", "status", "prometheus"]], ["scaph-guest", ["channel", "mount", "prometheus"]]] as const) {
    const m = sh("man", ["--warnings", "-l", `/usr/share/man/man1/${page}.1.gz`]);
    assert.equal(m.code, 0, m.stderr);
    assert.equal(m.stderr.trim(), "", `man ${page}: no warnings`);
    for (const c of cmds) assert.match(m.stdout, new RegExp(`${page} ${c}`), `man ${page} documents ${c}`);
  }

  // dpkg -r: every file and symlink goes, the enablement too; the conffiles stay until purge
  const r = sh("dpkg", ["-r", ...PACKAGES]);
  assert.equal(r.code, 0, r.stderr);
  const left = payload.filter((p) => !conffiles.includes(p) && present(p));
  assert.deepEqual(left, [], "files left by dpkg -r");
  assert.equal(existsSync("/usr/lib/scaph-host"), false);
  assert.deepEqual(scaphUnitLinks(), [], "unit symlinks left by dpkg -r");
  for (const c of conffiles) assert.ok(present(c), `${c} kept until purge`);
  purge();
  for (const c of conffiles) assert.equal(present(c), false, `${c} purged`);
  for (const p of PACKAGES) assert.equal(installed(p), false);
});
