import { test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { qemuRig, PVE_CG, RHEL_CG, WEB_CG } from "./rig.js";
import type { QemuRig } from "./rig.js";
import { deliverySamples } from "../../src/qemu/delivery.js";
import { STATUS_FILE } from "../../src/vm/status-file.js";
import type { DaemonStatus } from "../../src/vm/status-file.js";

const read = async (q: QemuRig, vm: string, zone: string, file = "energy_uj"): Promise<string> =>
  (await readFile(join(q.baseDir, vm, zone, file), "utf8")).trim();

/** One known interval: 24 J on the host (package 20 + dram 4), 400 busy ticks. */
async function knownInterval(q: QemuRig): Promise<void> {
  await q.rig.power.advance("intel-rapl:0", 20_000_000);
  await q.rig.power.advance("intel-rapl:0:0", 8_000_000);
  await q.rig.power.advance("intel-rapl:0:2", 4_000_000);
  await q.rig.proc.advanceBusy(400);
  await q.advanceCgroup(WEB_CG, 1_000_000); // web-1: 100 ticks from its cgroup
  await q.rig.proc.advanceProcess(1000, 80); //   (its qemu process alone: ignored)
  await q.rig.proc.advanceProcess(1001, 60); // odd,name: no VM cgroup, process time
  await q.advanceCgroup(RHEL_CG, 500_000); // rhel-vm: 50 ticks
  await q.advanceCgroup(PVE_CG, 400_000); // pve-vm: 40 ticks
  await q.rig.proc.advanceProcess(1006, 20); // plainvm
  await q.rig.proc.advanceProcess(1004, 30); // ../../etc: refused, an ordinary process
  await q.rig.proc.advanceProcess(1005, 10); // no -name: an ordinary process
  await q.rig.proc.advanceProcess(100, 50); // nginx
}

test("every cmdline form is discovered; hostile and nameless ones are skipped with a log line", async () => {
  const q = await qemuRig();
  try {
    const s = await q.step();
    assert.deepEqual(
      s.vms.map((v) => [v.name, v.uuid, v.cpuSource]),
      [
        ["odd,name", "11111111-2222-3333-4444-555555555504", "process"],
        ["plainvm", null, "process"],
        ["pve-vm", null, "cgroup"],
        ["rhel-vm", "aaaaaaaa-0000-0000-0000-000000000003", "cgroup"],
        ["web-1", "11111111-2222-3333-4444-555555555501", "cgroup"],
      ],
    );
    assert.deepEqual((await readdir(q.baseDir)).filter((n) => !n.startsWith(".")).sort(), ["odd,name", "plainvm", "pve-vm", "rhel-vm", "web-1"]);
    assert.ok(
      q.lines.some((l) => l.includes('"../../etc" refused')),
      q.lines.join("\n"),
    );
    assert.ok(q.lines.some((l) => l.includes("qemu process 1005 has no -name")));
    assert.ok(q.lines.some((l) => l.includes("is not a mount point")));
  } finally {
    await q.cleanup();
  }
});

test("exact µJ per VM; Σ VMs + others ≤ host; the tree gains what was attributed", async () => {
  const q = await qemuRig({ keepProcesses: true }); // as with --prometheus: the processes are checked too
  try {
    await q.step(); // baselines for the cgroups
    await knownInterval(q);
    const s = await q.step(2);
    const byName = new Map(s.vms.map((v) => [v.name, v]));
    assert.equal(s.hostUj, 24_000_000);
    assert.equal(byName.get("web-1")?.energyUj, 6_000_000);
    assert.equal(byName.get("odd,name")?.energyUj, 3_600_000);
    assert.equal(byName.get("rhel-vm")?.energyUj, 3_000_000);
    assert.equal(byName.get("pve-vm")?.energyUj, 2_400_000);
    assert.equal(byName.get("plainvm")?.energyUj, 1_200_000);
    assert.equal(s.othersUj, 5_400_000);
    const vmSum = s.vms.reduce((a, v) => a + v.energyUj, 0);
    assert.ok(vmSum + s.othersUj <= s.hostUj);
    // One attribution: each VM's energy is its qemu process's, the one every sink shows with vmname.
    for (const v of s.vms) {
      const procs = s.snapshot.processes.filter((p) => p.vmname === v.name);
      assert.deepEqual(
        procs.map((p) => [p.pid, p.energyUj]),
        [[v.pid, v.energyUj]],
        v.name,
      );
    }
    assert.equal(s.snapshot.attributedUj, vmSum + s.othersUj);
    // web-1's tree: core and dram take the VM's share, the package the rest; package + dram = attributed.
    assert.equal(await read(q, "web-1", "intel-rapl:0"), "5000000");
    assert.equal(await read(q, "web-1", "intel-rapl:0:0"), "2000000");
    assert.equal(await read(q, "web-1", "intel-rapl:0:1"), "0");
    assert.equal(await read(q, "web-1", "intel-rapl:0:2"), "1000000");
    assert.equal(Number(await read(q, "web-1", "intel-rapl:0")) + Number(await read(q, "web-1", "intel-rapl:0:2")), 6_000_000);
    assert.equal(await read(q, "web-1", "intel-rapl:0", "name"), "package-0");
    assert.equal(await read(q, "web-1", "intel-rapl:0:2", "name"), "dram");
    assert.equal(await read(q, "web-1", "intel-rapl:0", "max_energy_range_uj"), "262143328850");
    assert.equal(await read(q, "web-1", "intel-rapl:0:2", "max_energy_range_uj"), "65712999613");
    // A second identical interval doubles every counter.
    await knownInterval(q);
    await q.step(2);
    assert.equal(await read(q, "web-1", "intel-rapl:0"), "10000000");
    assert.equal(await read(q, "odd,name", "intel-rapl:0"), String(2 * (3_600_000 - 600_000)));
    assert.ok(
      q.lines.some((l) => /DEBUG measure: 2\.000 s, host 24000000 µJ, .* web-1=6000000 µJ \(cgroup 100\.0 ticks\).* other processes 5400000 µJ/.test(l)),
      "debug line says what was attributed",
    );
  } finally {
    await q.cleanup();
  }
});

test("a restarted daemon continues each counter from its own state, never from the tree; counters wrap at max", async () => {
  const q = await qemuRig();
  try {
    await q.step();
    await knownInterval(q);
    await q.step(2);
    const web = Number(await read(q, "web-1", "intel-rapl:0"));
    assert.equal(web, 5_000_000);
    // The guest writes a value of its choosing into its own tree (virtiofs is writable from the guest).
    await writeFile(join(q.baseDir, "web-1", "intel-rapl:0", "energy_uj"), "262143328800\n");
    await q.restart();
    await q.step();
    await knownInterval(q);
    await q.step(2);
    assert.equal(await read(q, "web-1", "intel-rapl:0"), String(web + 5_000_000), "continued from the state, not the planted value");
    assert.ok(q.lines.some((l) => l.includes("VM web-1") && l.includes("continued from the daemon's state")));
    // The state file is the host's, in the base dir, not in any VM's share.
    const state = JSON.parse(await readFile(join(q.baseDir, ".scaph-state.json"), "utf8")) as {
      vms: Record<string, { name: string; zones: Record<string, number> }>;
    };
    assert.equal(state.vms["11111111-2222-3333-4444-555555555501"]?.zones["intel-rapl:0"], web + 5_000_000);
    // Near the wrap point: the counter wraps at max like hardware.
    const max = 262143328850;
    state.vms["11111111-2222-3333-4444-555555555501"].zones["intel-rapl:0"] = max - 1_000_000;
    await writeFile(join(q.baseDir, ".scaph-state.json"), JSON.stringify(state));
    await q.restart();
    await q.step();
    await knownInterval(q);
    await q.step(2);
    assert.equal(await read(q, "web-1", "intel-rapl:0"), String(5_000_000 - 1_000_000));
    // A broken state file: logged, counters start from 0, never a crash.
    await writeFile(join(q.baseDir, ".scaph-state.json"), "{ not json");
    await q.restart();
    await q.step();
    assert.equal(await read(q, "web-1", "intel-rapl:0"), "0");
    assert.ok(q.lines.some((l) => l.includes(".scaph-state.json is not valid JSON")));
  } finally {
    await q.cleanup();
  }
});

/** A qemu rig and a directory outside its base dir, where a hostile guest would aim symlinks; both removed after `f`. */
async function withOutside(f: (q: Awaited<ReturnType<typeof qemuRig>>, outside: string) => Promise<void>): Promise<void> {
  const q = await qemuRig();
  const outside = await mkdtemp(join(tmpdir(), "scaph-outside-"));
  try {
    await f(q, outside);
  } finally {
    await rm(outside, { recursive: true, force: true });
    await q.cleanup();
  }
}

test("a planted symlink is never followed; planted garbage is overwritten with the right counter", () =>
  withOutside(async (q, outside) => {
    await q.step();
    await writeFile(join(outside, "victim"), "precious\n");
    const z = join(q.baseDir, "web-1", "intel-rapl:0");
    await rm(join(z, "energy_uj"));
    await symlink(join(outside, "victim"), join(z, "energy_uj"));
    await symlink(join(outside, "victim"), join(z, ".energy_uj." + process.pid + ".tmp"));
    await rm(join(q.baseDir, "web-1", "intel-rapl:0:0"), { recursive: true });
    await symlink(outside, join(q.baseDir, "web-1", "intel-rapl:0:0"));
    await writeFile(join(q.baseDir, "rhel-vm", "intel-rapl:0", "energy_uj"), "garbage\n");
    await knownInterval(q);
    await q.step(2);
    assert.equal(await readFile(join(outside, "victim"), "utf8"), "precious\n");
    assert.deepEqual((await readdir(outside)).sort(), ["victim"]);
    assert.ok((await lstat(join(z, "energy_uj"))).isFile());
    assert.ok((await lstat(join(q.baseDir, "web-1", "intel-rapl:0:0"))).isDirectory());
    assert.equal(await read(q, "web-1", "intel-rapl:0"), "5000000");
    assert.equal(await read(q, "rhel-vm", "intel-rapl:0"), String(3_000_000 - 500_000));
    assert.ok(q.lines.some((l) => l.includes("not a directory") && l.includes("not followed")));
  }));

test("a VM dir that is a symlink is refused; the other VMs go on", () =>
  withOutside(async (q, outside) => {
    await mkdir(q.baseDir, { recursive: true });
    await symlink(outside, join(q.baseDir, "web-1"));
    await q.step();
    await knownInterval(q);
    const s = await q.step(2);
    assert.equal(s.vms.find((v) => v.name === "web-1")?.written, false);
    assert.equal(s.vms.find((v) => v.name === "rhel-vm")?.written, true);
    // the sinks' own outcomes: the delivery gauge and the status file say the same
    const gauge = new Map(deliverySamples(q.deliveries).map((x) => [`${x.labels.vmname} ${x.labels.transport}`, x.value]));
    assert.equal(gauge.get("web-1 tree"), 0);
    assert.equal(gauge.get("rhel-vm tree"), 1);
    const status = JSON.parse(await readFile(join(q.baseDir, STATUS_FILE), "utf8")) as DaemonStatus;
    for (const v of status.vms) if (v.tree) assert.equal(gauge.get(`${v.name} tree`), v.written ? 1 : 0, v.name);
    assert.deepEqual(await readdir(outside), []);
    assert.ok(q.lines.some((l) => l.includes("refusing") && l.includes("web-1")));
  }));

test("a VM that vanishes is dropped; one that appears is picked up, without a restart", async () => {
  const q = await qemuRig();
  try {
    await q.step();
    await rm(join(q.rig.proc.root, "1006"), { recursive: true });
    const s = await q.step();
    assert.equal(
      s.vms.some((v) => v.name === "plainvm"),
      false,
    );
    assert.ok(q.lines.some((l) => l.includes("VM plainvm is gone")));
    // A new VM, started after the previous reading (uptime 1000 s).
    await mkdir(join(q.rig.proc.root, "1007"));
    await writeFile(join(q.rig.proc.root, "1007", "stat"), "1007 (qemu-system-x86) S 1 1007 1007 0 -1 4194560 0 0 0 0 7 3 0 0 20 0 1 0 100050 1000 10 0\n");
    await writeFile(join(q.rig.proc.root, "1007", "cmdline"), "/usr/bin/qemu-system-x86_64\0-name\0guest=late,debug-threads=on\0");
    await symlink("/usr/bin/qemu-system-x86_64", join(q.rig.proc.root, "1007", "exe"));
    await writeFile(join(q.rig.proc.root, "1007", "status"), "Name:\tqemu-system-x86\nUid:\t0\t0\t0\t0\n");
    await q.rig.proc.setUptime(1001);
    await q.rig.power.advance("intel-rapl:0", 1_000_000);
    await q.rig.proc.advanceBusy(100);
    const s2 = await q.step();
    assert.equal(s2.vms.find((v) => v.name === "late")?.energyUj, 100_000);
    assert.equal(await read(q, "late", "intel-rapl:0"), "100000");
  } finally {
    await q.cleanup();
  }
});

test("a base dir that cannot be opened is said once, not at every step; its VMs' energy is written once it opens again", async () => {
  const q = await qemuRig();
  try {
    await q.step();
    await knownInterval(q);
    await rm(q.baseDir, { recursive: true });
    await writeFile(q.baseDir, "not a directory\n");
    await q.step(2);
    await q.step(2);
    const said = q.lines.filter((l) => l.includes(`cannot open ${q.baseDir}`));
    assert.equal(said.length, 1, said.join("\n"));
    assert.match(said[0] ?? "", /ENOTDIR/);
    await rm(q.baseDir);
    await q.step(2);
    assert.ok(q.lines.some((l) => l.includes(`${q.baseDir} opens again`)));
    assert.equal(await read(q, "web-1", "intel-rapl:0"), "5000000");
  } finally {
    await q.cleanup();
  }
});
