import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, symlink } from "node:fs/promises";
import { join } from "node:path";
import { PowercapFixture, requireCommand } from "@scaph/test-support";
import { startBusyHost } from "../helpers/busy-host.js";
import { hostBin, runNode } from "../helpers/cli.js";
import { freePort, sleep, startBackground, waitFor } from "../helpers/processes.js";
import { sample, scrape, startExporter } from "../helpers/scrape.js";

const VM = "scaph-busy";
const UUID = "5ca9a000-0000-4000-8000-000000000001";

/** A process's utime + stime and the host's busy time, in ticks, from the real /proc. */
async function cpuShareProbe(pid: number): Promise<{ vm: number; busy: number }> {
  const st = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  const cpu = (await readFile("/proc/stat", "utf8")).split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = cpu[0]! + cpu[1]! + cpu[2]! + cpu[5]! + cpu[6]! + cpu[7]!;
  return { vm: Number(f[11]) + Number(f[12]), busy };
}

async function counters(tree: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const z of ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2"]) {
    out[z] = Number((await readFile(join(tree, z, "energy_uj"), "utf8")).trim());
  }
  return out;
}

test("a real qemu VM: discovered in the real /proc, given a share, its tree read by node_exporter; restart-safe", async (t) => {
  const h = await startBusyHost(
    VM,
    [
      { zone: "intel-rapl:0", watts: 30 },
      { zone: "intel-rapl:0:0", watts: 20 },
      { zone: "intel-rapl:0:2", watts: 5 },
    ],
    UUID,
  );
  const { dir, powercap, vm } = h;
  const base = join(dir, "scaphandre");
  try {
    await waitFor("qemu to start", () => (vm.child.pid && vm.child.exitCode === null ? true : null), 5000);
    // qemu running its guest: CPU time in its /proc/PID/stat
    await waitFor(
      "qemu to use CPU",
      async () => (Number((await readFile(`/proc/${vm.child.pid}/stat`, "utf8")).split(") ")[1]?.split(" ")[11] ?? 0) > 0 ? true : null),
      30_000,
    );
    const power = new PowercapFixture(powercap);
    const hostBefore = (await power.energy("intel-rapl:0")) + (await power.energy("intel-rapl:0:2"));
    const cpuBefore = await cpuShareProbe(vm.child.pid as number);
    const args = ["qemu", "--no-libvirt", "--base-dir", base, "--step", "0.5", "--powercap-path", powercap, "-t"];
    const r1 = await runNode(hostBin, ["-v", ...args, "3"]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(r1.stderr, new RegExp(`VM ${VM} \\(pid ${vm.child.pid}, uuid ${UUID}\\) found`));
    const hostAfter = (await power.energy("intel-rapl:0")) + (await power.energy("intel-rapl:0:2"));
    const cpuAfter = await cpuShareProbe(vm.child.pid as number);
    const tree = join(base, VM);
    const c1 = await counters(tree);
    const vmUj = c1["intel-rapl:0"]! + c1["intel-rapl:0:2"]!;
    const hostUj = hostAfter - hostBefore;
    // The VM's share of the host's busy CPU time over the run, read from /proc by the test itself: whatever else
    // the machine runs, the energy the daemon attributed follows it (the daemon's window is a little shorter than
    // the run: it starts measuring after its own start-up).
    const cpuShare = (cpuAfter.vm - cpuBefore.vm) / (cpuAfter.busy - cpuBefore.busy);
    t.diagnostic(
      `VM ${VM} got ${(vmUj / 1e6).toFixed(2)} J of ${(hostUj / 1e6).toFixed(2)} J of host energy (${((100 * vmUj) / hostUj).toFixed(1)}%); its share of busy CPU time: ${(100 * cpuShare).toFixed(1)}%`,
    );
    assert.ok(cpuShare > 0.05, `the VM burned ${(100 * cpuShare).toFixed(1)}% of the busy CPU time: too little to test with`);
    assert.ok(vmUj >= 0.5 * cpuShare * hostUj, `a VM with ${(100 * cpuShare).toFixed(1)}% of the busy CPU time got ${vmUj} µJ of ${hostUj} µJ`);
    assert.ok(vmUj <= Math.min(1, 1.2 * cpuShare) * hostUj, `${vmUj} µJ of ${hostUj} µJ is more than its CPU share`);
    assert.equal((await readFile(join(tree, "intel-rapl:0:2", "name"), "utf8")).trim(), "dram");

    // Restart: a new daemon continues from its state; sampled every 50 ms until it has added energy for a
    // few steps (however long a loaded machine takes to start it), no counter ever decreases.
    let prev = c1;
    let samples = 0;
    let gains = 0;
    const daemon = startBackground(process.execPath, [hostBin, ...args, "0"]);
    const end = Date.now() + 30_000;
    while (Date.now() < end && gains < 3) {
      const c = await counters(tree).catch(() => null);
      if (c) {
        samples++;
        for (const z of Object.keys(c)) assert.ok(c[z]! >= prev[z]!, `${z} went from ${prev[z]} to ${c[z]}`);
        if (c["intel-rapl:0"]! > prev["intel-rapl:0"]!) gains++;
        prev = c;
      }
      await sleep(50);
    }
    await daemon.stop();
    assert.ok(gains >= 3, `the restarted daemon added energy at ${gains} of the steps sampled (${samples} samples)`);

    // Conformance: node_exporter's rapl collector reads the VM tree as a sysfs.
    const exporter = requireCommand("prometheus-node-exporter", "prometheus-node-exporter");
    const sysfs = join(dir, "sysfs");
    await mkdir(join(sysfs, "class"), { recursive: true });
    await symlink(tree, join(sysfs, "class", "powercap"));
    const port = await freePort();
    const ne = startBackground(exporter, [
      "--collector.disable-defaults",
      "--collector.rapl",
      `--path.sysfs=${sysfs}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ]);
    try {
      const body = await waitFor("node_exporter", async () => {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        return res.ok ? res.text() : null;
      });
      const final = await counters(tree);
      const joules = (name: string): number => {
        const m = new RegExp(`^node_rapl_${name}_joules_total\\{index="(\\d+)",path="[^"]*"\\} (\\S+)$`, "m").exec(body);
        assert.ok(
          m,
          `node_rapl_${name}_joules_total missing:\n${body
            .split("\n")
            .filter((l) => l.includes("rapl"))
            .join("\n")}`,
        );
        return Number(m[2]);
      };
      assert.equal(joules("package"), final["intel-rapl:0"]! / 1e6);
      assert.equal(joules("core"), final["intel-rapl:0:0"]! / 1e6);
      assert.equal(joules("uncore"), final["intel-rapl:0:1"]! / 1e6);
      assert.equal(joules("dram"), final["intel-rapl:0:2"]! / 1e6);
      assert.doesNotMatch(body, /node_scrape_collector_success\{collector="rapl"\} 0/);
    } finally {
      await ne.stop();
    }

    // --qemu labels the qemu process with its VM name.
    const j = await runNode(hostBin, ["json", "--qemu", "-t", "1", "-s", "0.5", "--powercap-path", powercap, "--process-regex", "qemu-system"]);
    assert.equal(j.code, 0, j.stderr);
    const reports = JSON.parse(j.stdout) as { consumers: { pid: number; vmname?: string; consumption: number }[] }[];
    const me = reports[1]?.consumers.find((c) => c.pid === vm.child.pid);
    assert.equal(me?.vmname, VM);
    assert.ok((me?.consumption ?? 0) > 0);
  } finally {
    await h.stop();
  }
});

test("scaph-host qemu --prometheus: trees and metrics from one measurement loop, with per-VM series", async () => {
  const h = await startBusyHost("scaph-prom-vm", [{ zone: "intel-rapl:0", watts: 20 }]);
  const { dir, powercap, vm } = h;
  const port = await freePort();
  const { bg, url } = await startExporter([
    hostBin,
    "qemu",
    "--no-libvirt",
    "--prometheus",
    "-a",
    "127.0.0.1",
    "-p",
    String(port),
    "--base-dir",
    join(dir, "b"),
    "--step",
    "0.5",
    "--powercap-path",
    powercap,
  ]);
  try {
    const body = await waitFor("per-VM series", async () => {
      const b = await scrape(url);
      return (sample(b, "scaph_vm_power_microwatts", 'vmname="scaph-prom-vm"') ?? 0) > 0 ? b : null;
    });
    const vmJ = sample(body, "scaph_vm_energy_joules_total", 'vmname="scaph-prom-vm"') ?? 0;
    assert.ok(vmJ > 0);
    assert.ok(vmJ <= (sample(body, "scaph_host_energy_joules_total") ?? 0));
    assert.match(body, new RegExp(`scaph_process_power_consumption_microwatts\\{pid="${vm.child.pid}",[^}]*vmname="scaph-prom-vm"`));
    // One attribution: the VM's series and its qemu process's series are the same number, from the same step.
    const vmUw = sample(body, "scaph_vm_power_microwatts", 'vmname="scaph-prom-vm"');
    const procUw = sample(body, "scaph_process_power_consumption_microwatts", `pid="${vm.child.pid}"`);
    assert.equal(vmUw, procUw);
    const tree = Number(await readFile(join(dir, "b", "scaph-prom-vm", "intel-rapl:0", "energy_uj"), "utf8"));
    assert.ok(tree > 0);
  } finally {
    await bg.stop();
    await h.stop();
  }
});
