/**
 * The .deb packages as an operator installs them, in a Debian 12 container
 * booted by a real systemd (never on this machine itself): dpkg -i, apt-get
 * -f install, the commands run (the host's libvirt binding and measurement
 * included), the units pass systemd-analyze verify, the services are
 * enabled; dpkg -r takes every file and symlink away (conffiles stay until
 * purge, as Debian wants). The man pages render clean here, from the
 * packages' payloads (the container has no man-db).
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireCommand, requireRoot } from "@scaph/test-support";
import { bootContainer, debianRoot } from "../helpers/nspawn.js";
import type { Container } from "../helpers/nspawn.js";
import { cachedDebs, scaphVersion, testSupportIn } from "../helpers/packages.js";

const PACKAGES = ["scaph-host", "scaph-guest"] as const;
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
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

let c: Container;
let debs: string[] = [];
let powercap = "";
before(async () => {
  requireRoot("systemd-nspawn boots containers as root");
  const root = debianRoot();
  console.log(`# ${root.about}`);
  const built = await cachedDebs();
  debs = PACKAGES.map((p) => join(built, `${p}_${scaphVersion}_amd64.deb`));
  // a measurement inside: 20 W on a simulated package, from a tree ticked here
  powercap = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({ powercapRoot: powercap, zones: [{ zone: "intel-rapl:0", watts: 20 }] });
  sim.start();
  cleanups.push(async () => {
    await sim.stop();
    await removeTree(powercap);
  });
  c = await bootContainer(root.dir, {}, { [powercap]: "/srv/powercap" });
  cleanups.push(() => c.stop());
});

/** The non-directory entries of a .deb (files, symlinks), as absolute paths. */
function payloadOf(deb: string): string[] {
  return execFileSync("dpkg-deb", ["-c", deb], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l && !l.startsWith("d"))
    .map((l) => (l.split(/\s+/).slice(5).join(" ").split(" -> ")[0] as string).replace(/^\./, ""));
}
const present = (p: string): boolean => c.run("test", ["-e", p]).code === 0 || c.run("test", ["-L", p]).code === 0;
const installed = (pkg: string): boolean => /install ok installed|config-files/.test(c.run("dpkg-query", ["-W", "-f=${Status}", pkg]).stdout);

test("the .deb payloads hold no test support, depend on no distribution Node, and their man pages render clean", () => {
  const man = requireCommand("man", "man-db");
  for (const deb of debs) {
    const x = join(dir, `payload-${deb.split("/").at(-1)}`);
    execFileSync("dpkg-deb", ["-x", deb, x]);
    // (the docs beside the README tell how the tests work: prose under /usr/share/doc, never loaded)
    const prose = join(x, "usr/share/doc");
    assert.deepEqual(
      testSupportIn(x).filter((hit) => !hit.startsWith(`${prose}/`) || !hit.split(": ")[0]!.endsWith(".md")),
      [],
      `test support in ${deb}`,
    );
    const depends = execFileSync("dpkg-deb", ["-f", deb, "Depends"], { encoding: "utf8" }).trim();
    assert.doesNotMatch(depends, /nodejs/, `${deb}: Depends: ${depends}`);
    console.log(`# ${deb.split("/").at(-1)}: ${(statSync(deb).size / 2 ** 20).toFixed(1)} MiB; Depends: ${depends}`);
  }
  // The man pages render without a warning, every command documented
  for (const [pkg, page, cmds] of [
    ["scaph-host", "scaph-host", ["qemu", "setup", "teardown", "status", "prometheus"]],
    ["scaph-guest", "scaph-guest", ["channel", "mount", "prometheus"]],
  ] as const) {
    const file = join(dir, `payload-${pkg}_${scaphVersion}_amd64.deb`, "usr/share/man/man1", `${page}.1.gz`);
    const m = spawnSync(man, ["--warnings", "-l", file], { encoding: "utf8" });
    assert.equal(m.status, 0, m.stderr);
    assert.equal(m.stderr.trim(), "", `man ${page}: no warnings`);
    for (const cmd of cmds) assert.match(m.stdout, new RegExp(`${page} ${cmd}`), `man ${page} documents ${cmd}`);
  }
});

test("dpkg -i in a Debian 12 container: the commands run, the units verify and are enabled; dpkg -r takes every file but the conffiles, -P those", async () => {
  const payload = debs.flatMap(payloadOf);
  const conffiles = ["/etc/default/scaph-host", "/etc/default/scaph-guest"];
  for (const deb of debs) copyFileSync(deb, c.path(`/tmp/${deb.split("/").at(-1)}`));
  const inside = debs.map((d) => `/tmp/${d.split("/").at(-1)}`);
  const i = c.run("dpkg", ["-i", ...inside]);
  assert.equal(i.code, 0, `dpkg -i: ${i.stdout}${i.stderr}`);
  c.ok("apt-get", ["-f", "install", "-y"]);
  for (const p of PACKAGES) assert.ok(installed(p), `${p} installed`);
  for (const p of payload) assert.ok(present(p), `${p} installed`);

  // The commands, as installed
  assert.equal(c.ok("/usr/bin/scaph-host", ["--version"]).trim(), scaphVersion);
  assert.equal(c.ok("/usr/bin/scaph-guest", ["--version"]).trim(), scaphVersion);
  c.ok("/usr/bin/scaph-host", ["--help"]);
  // libvirt through the packaged koffi
  assert.match(c.ok("/usr/bin/scaph-host", ["setup", "test", "--connect", "test:///default", "--dry-run"]), /<filesystem type="mount"/);
  // asynchronously: the simulator ticks in this process
  const j = await c.exec("/usr/bin/scaph-host", ["json", "--powercap-path", "/srv/powercap", "--timeout", "3", "--step", "1"]);
  assert.equal(j.code, 0, j.stderr);
  const last = (JSON.parse(j.stdout) as { host: { consumption: number } }[]).at(-1);
  assert.ok(Math.abs((last?.host.consumption ?? 0) - 20e6) < 2e6, `host power ${last?.host.consumption} µW, expected 20 W`);

  // The units: systemd-analyze verify says nothing at all (it exits 0 even on unknown keys)
  // (--man=no: the container has no man-db; the pages themselves are checked above)
  const v = c.run("systemd-analyze", ["verify", "--man=no", ...UNITS.map((u) => `/lib/systemd/system/${u}`)]);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stderr.trim(), "", "systemd-analyze verify is silent");
  // Their sandboxes: systemd's own exposure rating, per service (reported, and bounded)
  for (const [u, max] of Object.entries(MAX_EXPOSURE)) {
    const s = c.run("systemd-analyze", ["security", "--offline=true", "--no-pager", `/lib/systemd/system/${u}`]);
    const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(s.stdout)?.[1] ?? NaN);
    console.log(`# systemd-analyze security ${u}: exposure ${score}`);
    assert.ok(score <= max, `${u}: systemd-analyze security rates it ${score}, above ${max}:\n${s.stdout}${s.stderr}`);
  }
  // Enabled by the postinst: the host's daemon and the guest's exporter; the channel receiver is udev's
  for (const u of ["scaph-host-qemu.service", "scaph-guest.service"]) assert.ok(present(`/etc/systemd/system/multi-user.target.wants/${u}`), `${u} enabled`);

  // dpkg -r: every file and symlink goes, the enablement too; the conffiles stay until purge
  c.ok("dpkg", ["-r", ...PACKAGES]);
  const left = payload.filter((p) => !conffiles.includes(p) && present(p));
  assert.deepEqual(left, [], "files left by dpkg -r");
  assert.equal(present("/usr/lib/scaph-host"), false);
  assert.equal(c.run("sh", ["-c", "ls /etc/systemd/system/*/scaph-* 2>/dev/null"]).stdout.trim(), "", "unit symlinks left by dpkg -r");
  for (const f of conffiles) assert.ok(present(f), `${f} kept until purge`);
  c.ok("dpkg", ["-P", ...PACKAGES]);
  for (const f of conffiles) assert.equal(present(f), false, `${f} purged`);
  for (const p of PACKAGES) assert.equal(installed(p), false);
});
