/**
 * The packages under a real systemd: a Debian 12 container booted by
 * systemd-nspawn, `apt install ./scaph-*.deb` as an operator does, the units
 * as packaged. The services start, serve, keep state in their
 * StateDirectory, restart after a kill, stop in time, take changes of
 * /etc/default after a restart; their sandboxes hold (read-only system,
 * only the documented capabilities, seccomp, no new privileges); dpkg -r
 * and -P leave nothing. udev does not run in a container: the channel
 * receiver's unit is proven in the real-guest lab instead.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { bootContainer, capabilityNames, debianRoot } from "../helpers/nspawn.js";
import type { Container } from "../helpers/nspawn.js";
import { cachedDebs, scaphVersion } from "../helpers/packages.js";
import { freePort, waitFor } from "../helpers/processes.js";
import { sample } from "../helpers/scrape.js";

let debs = "";
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

let root = "";
before(async () => {
  requireRoot("systemd-nspawn boots containers as root");
  const r = debianRoot();
  console.log(`# ${r.about}`);
  root = r.dir;
  debs = await cachedDebs();
});

async function boot(binds: Record<string, string>, roBinds: Record<string, string> = {}): Promise<Container> {
  const c = await bootContainer(root, binds, roBinds);
  cleanups.push(() => c.stop());
  console.log(`# the container's systemd reached its default target in ${c.bootS.toFixed(1)} s`);
  return c;
}

/** A copy of a fixture tree whose package draws `watts`, until the test file ends. */
async function simulated(fixture: string, watts: number): Promise<string> {
  const tree = await copyFixture(fixture);
  const sim = new PowerSimulator({ powercapRoot: tree, zones: [{ zone: "intel-rapl:0", watts }] });
  sim.start();
  cleanups.push(async () => {
    await sim.stop();
    await removeTree(tree);
  });
  return tree;
}

function install(c: Container, pkg: string): void {
  const deb = `${pkg}_${scaphVersion}_amd64.deb`;
  copyFileSync(join(debs, deb), c.path(`/tmp/${deb}`));
  c.ok("apt-get", ["install", "-y", "--no-install-recommends", `/tmp/${deb}`]);
}

/** Sets `key="value"` in the container's /etc/default file. */
function setDefault(c: Container, file: string, key: string, value: string): void {
  c.ok("sed", ["-i", `s|^${key}=.*|${key}="${value}"|`, file]);
}

const show = (c: Container, unit: string, prop: string): string => c.ok("systemctl", ["show", "-p", prop, "--value", unit]).trim();
const mainPid = (c: Container, unit: string): number => Number(show(c, unit, "MainPID"));

/** Waits until `unit` runs with a main process other than `not`; returns that process. */
function running(c: Container, unit: string, not = 0): Promise<number> {
  return waitFor(
    `${unit} to run`,
    () => {
      const pid = mainPid(c, unit);
      return show(c, unit, "ActiveState") === "active" && pid > 0 && pid !== not ? pid : null;
    },
    60_000,
  );
}

/** The sandbox of a running service's main process, as the kernel sees it. */
function sandbox(c: Container, pid: number): { caps: string[]; bounding: string[]; noNewPrivs: string; seccomp: string; uid: string } {
  const status = c.ok("cat", [`/proc/${pid}/status`]);
  const field = (k: string): string => new RegExp(`^${k}:\\s*(.*)$`, "m").exec(status)?.[1]?.trim() ?? "";
  return {
    caps: capabilityNames(field("CapEff")),
    bounding: capabilityNames(field("CapBnd")),
    noNewPrivs: field("NoNewPrivs"),
    seccomp: field("Seccomp"),
    uid: field("Uid").split(/\s+/)[0] ?? "",
  };
}

/** Whether the service's own view of the filesystem lets `path` be written (a file made and removed there). */
function writable(c: Container, pid: number, dir: string): boolean {
  return c.run("nsenter", ["-t", String(pid), "-m", "--", "sh", "-c", `touch '${dir}/.scaph-probe' && rm '${dir}/.scaph-probe'`]).code === 0;
}

async function metrics(port: number): Promise<string> {
  return waitFor(
    `metrics on port ${port}`,
    async () => {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null);
      const body = r?.ok ? await r.text() : "";
      return body.includes("scaph_host_power_microwatts") ? body : null;
    },
    60_000,
  );
}

test("scaph-host's package under systemd: both services run sandboxed as documented, restart, stop, follow /etc/default, and go with dpkg -P", async () => {
  const powercap = await simulated("powercap/intel-1socket", 30);
  const c = await boot({}, { [powercap]: "/srv/powercap" });
  install(c, "scaph-host");
  assert.equal(c.ok("dpkg-query", ["-W", "-f=${Depends}", "scaph-host"]).includes("nodejs"), false, "no distribution Node needed");
  assert.equal(c.ok("/usr/bin/scaph-host", ["--version"]).trim(), scaphVersion);
  assert.notEqual(c.run("sh", ["-c", "command -v node"]).code, 0, "the container has no node: the package brings its own");
  assert.equal(show(c, "scaph-host-qemu.service", "UnitFileState"), "enabled");
  // Scaphandre's command, for its unit files: /usr/bin/scaphandre runs scaph-host
  assert.match(c.ok("/usr/bin/scaphandre", ["prometheus", "--help"]), /Usage: scaph-host prometheus/);

  // scaph-host-qemu on the simulated RAPL tree (this container has none of its own)
  setDefault(c, "/etc/default/scaph-host", "SCAPH_HOST_QEMU_OPTS", "--base-dir /var/lib/libvirt/scaphandre --step 1 --powercap-path /srv/powercap");
  c.ok("systemctl", ["restart", "scaph-host-qemu.service"]);
  const pid = await running(c, "scaph-host-qemu.service");
  const status = await waitFor(
    "the status file",
    () => {
      const r = c.run("cat", ["/var/lib/libvirt/scaphandre/.scaph-status.json"]);
      return r.code === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : null;
    },
    60_000,
  );
  assert.ok(status, "status file written under StateDirectory");
  assert.equal(c.run("test", ["-f", "/var/lib/libvirt/scaphandre/.scaph-state.json"]).code, 0, "state file written");

  // The sandbox, as the kernel applies it
  const qs = sandbox(c, pid);
  assert.deepEqual(qs.bounding, ["CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"]);
  assert.deepEqual(qs.caps, qs.bounding);
  assert.equal(qs.noNewPrivs, "1");
  assert.equal(qs.seccomp, "2", "a seccomp filter");
  assert.equal(writable(c, pid, "/var/lib/libvirt/scaphandre"), true, "its StateDirectory");
  for (const d of ["/etc", "/usr/lib", "/var/lib/libvirt", "/root"]) assert.equal(writable(c, pid, d), false, `${d} is not writable for it`);

  // Killed: systemd starts it again (Restart=on-failure)
  c.ok("systemctl", ["kill", "-s", "SIGKILL", "scaph-host-qemu.service"]);
  const again = await running(c, "scaph-host-qemu.service", pid);
  assert.notEqual(again, pid);
  // Stopped: within its timeout, cleanly (not killed by systemd)
  const t0 = Date.now();
  c.ok("systemctl", ["stop", "scaph-host-qemu.service"]);
  console.log(`# scaph-host-qemu stopped in ${Date.now() - t0} ms`);
  assert.equal(show(c, "scaph-host-qemu.service", "Result"), "success");

  // scaph-host-prometheus with --sensor after the subcommand, as /etc/default/scaph-host says to write it
  const port = await freePort();
  setDefault(c, "/etc/default/scaph-host", "SCAPH_HOST_PROMETHEUS_OPTS", `--address 127.0.0.1 --port ${port} --sensor estimate`);
  c.ok("systemctl", ["start", "scaph-host-prometheus.service"]);
  const body = await waitFor(
    "an estimated host power",
    async () => {
      const b = await metrics(port);
      return (sample(b, "scaph_host_power_microwatts", 'value_source="estimate"') ?? 0) > 0 ? b : null;
    },
    60_000,
  );
  assert.ok(
    /^scaph_process_power_consumption_microwatts\{pid="1",/m.test(body),
    "the container's processes seen, PID 1 included (ProtectProc hides none from it)",
  );
  const ps = sandbox(c, await running(c, "scaph-host-prometheus.service"));
  assert.deepEqual(ps.bounding, ["CAP_SYS_PTRACE"]);
  assert.equal(ps.seccomp, "2");
  // A change of /etc/default applies after a restart: now on the simulated tree, on another port
  const port2 = await freePort();
  setDefault(c, "/etc/default/scaph-host", "SCAPH_HOST_PROMETHEUS_OPTS", `--address 127.0.0.1 --port ${port2} --powercap-path /srv/powercap`);
  c.ok("systemctl", ["restart", "scaph-host-prometheus.service"]);
  const body2 = await waitFor(
    "30 W measured on the new port",
    async () => {
      const b = await metrics(port2);
      const w = (sample(b, "scaph_host_power_microwatts", 'value_source="powercap_rapl_pkg"') ?? 0) / 1e6;
      return Math.abs(w - 30) < 3 ? b : null;
    },
    60_000,
  );
  assert.ok(body2);
  for (const u of ["scaph-host-qemu.service", "scaph-host-prometheus.service"]) {
    console.log(
      `# systemd-analyze security ${u}, running: ${/Overall exposure level for \S+: (.*)/.exec(c.run("systemd-analyze", ["security", "--no-pager", u]).stdout)?.[1] ?? "?"}`,
    );
  }

  // An upgrade (the same package again, as dpkg runs an upgrade's scripts): the daemon runs on the new files,
  // /etc/default/scaph-host as the operator left it
  const before = c.ok("cat", ["/etc/default/scaph-host"]);
  c.ok("dpkg", ["-i", `/tmp/scaph-host_${scaphVersion}_amd64.deb`]);
  await running(c, "scaph-host-qemu.service");
  assert.equal(c.ok("cat", ["/etc/default/scaph-host"]), before, "the conffile kept through the upgrade");

  // dpkg -r stops the services and takes the files; -P the configuration and the state too
  c.ok("dpkg", ["-r", "scaph-host"]);
  assert.equal(show(c, "scaph-host-prometheus.service", "ActiveState"), "inactive");
  assert.equal(c.run("test", ["-e", "/usr/lib/scaph-host"]).code, 1, "/usr/lib/scaph-host removed");
  assert.equal(c.run("test", ["-e", "/etc/default/scaph-host"]).code, 0, "conffile kept until purge");
  c.ok("dpkg", ["-P", "scaph-host"]);
  const left = c
    .run("sh", [
      "-c",
      "ls -A /etc/default/scaph-host /var/lib/libvirt/scaphandre /etc/systemd/system/multi-user.target.wants/scaph-* /usr/bin/scaphandre /etc/alternatives/scaphandre 2>/dev/null",
    ])
    .stdout.trim();
  assert.equal(left, "", "nothing left after dpkg -P");
});

test("scaph-guest's package under systemd: the exporter runs with no privilege on the tree it is given, follows /etc/default, and goes with dpkg -P", async () => {
  const tree = await simulated("powercap/vm-tree", 7);
  const c = await boot({}, { [tree]: "/var/scaphandre" });
  // A real Scaphandre's /usr/bin/scaphandre (a plain file) is never replaced by ours
  c.ok("sh", ["-c", "printf '#!/bin/sh\\necho real scaphandre\\n' > /usr/bin/scaphandre && chmod 755 /usr/bin/scaphandre"]);
  install(c, "scaph-guest");
  assert.equal(c.ok("/usr/bin/scaphandre", []).trim(), "real scaphandre", "a real Scaphandre's command is left as it is");
  c.ok("rm", ["/usr/bin/scaphandre"]);
  c.ok("update-alternatives", ["--auto", "scaphandre"]);
  assert.equal(show(c, "scaph-guest.service", "UnitFileState"), "enabled");
  const port = await freePort();
  setDefault(c, "/etc/default/scaph-guest", "SCAPH_GUEST_PROMETHEUS_OPTS", `--address 127.0.0.1 --port ${port}`);
  c.ok("systemctl", ["restart", "scaph-guest.service"]);
  const body = await waitFor(
    "7 W from the tree",
    async () => {
      const b = await metrics(port);
      const w = (sample(b, "scaph_host_power_microwatts") ?? 0) / 1e6;
      return Math.abs(w - 7) < 1 ? b : null;
    },
    60_000,
  );
  assert.ok(body);
  assert.match(c.ok("/usr/bin/scaphandre", ["--vm", "prometheus", "--help"]), /Usage: scaph-guest prometheus/, "scaphandre --vm runs scaph-guest");
  const gs = sandbox(c, await running(c, "scaph-guest.service"));
  assert.notEqual(gs.uid, "0", "DynamicUser: not root");
  assert.deepEqual(gs.bounding, [], "no capability at all");
  assert.equal(gs.noNewPrivs, "1");
  assert.equal(gs.seccomp, "2");
  // the channel's mount unit is there, for the receiver udev starts in a real guest
  assert.equal(show(c, "var-scaphandre.mount", "FragmentPath"), "/lib/systemd/system/var-scaphandre.mount");
  c.ok("dpkg", ["-P", "scaph-guest"]);
  assert.equal(show(c, "scaph-guest.service", "ActiveState"), "inactive");
  const left = c
    .run("sh", [
      "-c",
      "ls -A /usr/bin/scaphandre /usr/bin/scaph-guest /etc/default/scaph-guest /lib/systemd/system/scaph-guest* /etc/systemd/system/multi-user.target.wants/scaph-* 2>/dev/null",
    ])
    .stdout.trim();
  assert.equal(left, "", "nothing left after dpkg -P");
  assert.ok(existsSync(tree), "the tree it read is untouched");
});
