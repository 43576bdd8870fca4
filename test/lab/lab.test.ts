/**
 * The real-VM lab (`npm run test:lab`): two guests booted by a real libvirtd,
 * each reading its own power through virtiofs or 9p with scaph-guest.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree } from "@scaph/common/testing";
import { hostBin, repoRoot, runNode } from "../helpers/cli.js";
import { requireCommand, sleep, startBackground, waitFor } from "../helpers/processes.js";
import { parseConsole, reportedEnergyUj } from "./console.js";
import type { ConsoleEvent } from "./console.js";
import { labDomainXml } from "./domain.js";
import { buildInitramfs } from "./initramfs.js";
import { fetchKernel } from "./kernel.js";
import { domainType, ensureLibvirtd } from "./libvirtd.js";
import type { Libvirtd } from "./libvirtd.js";

const STEP_S = 2;
const GUEST_SECONDS = 40;
const CACHE = process.env.SCAPH_LAB_CACHE ?? "/var/cache/scaph-lab";
/** lab-busy burns two vCPUs; lab-idle reads every other step: under TCG even an idle guest running node costs ~15% of a host CPU. */
const VMS = [
  { name: "lab-busy", mode: "busy", transport: "virtiofs", step: STEP_S, vcpus: 2 },
  { name: "lab-idle", mode: "idle", transport: "9p", step: 2 * STEP_S, vcpus: 1 },
] as const;

let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

const virsh = (...a: string[]): string => execFileSync("virsh", ["-c", "qemu:///system", ...a], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const quiet = (f: () => unknown): void => {
  try {
    f();
  } catch {
    // best effort cleanup
  }
};

test("lab: two real guests read their own power through virtiofs and 9p", { timeout: 300_000 }, async (t) => {
  requireCommand("busybox", "busybox-static");
  requireCommand("dpkg-deb", "dpkg");
  daemon = await ensureLibvirtd();
  const type = await domainType();
  const dir = await mkdtemp(join(tmpdir(), "scaph-lab-"));
  chmodSync(dir, 0o777);
  const base = join(dir, "trees");
  const kernel = fetchKernel(CACHE);
  const initrd = join(dir, "initrd.gz");
  const t0 = Date.now();
  buildInitramfs({
    output: initrd,
    staging: join(dir, "root"),
    busybox: "/bin/busybox",
    modules: kernel.modules,
    nodeBinary: process.execPath,
    repoRoot,
    init: readFileSync(join(repoRoot, "test", "lab", "init.sh"), "utf8"),
  });
  chmodSync(initrd, 0o644);
  const vmlinuz = join(dir, "vmlinuz");
  writeFileSync(vmlinuz, readFileSync(kernel.vmlinuz));
  t.diagnostic(`initramfs ${(readFileSync(initrd).length / 2 ** 20).toFixed(0)} MiB built in ${((Date.now() - t0) / 1000).toFixed(1)} s; guests run as type=${type}`);

  const powercap = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({ powercapRoot: powercap, zones: [{ zone: "intel-rapl:0", watts: 40 }, { zone: "intel-rapl:0:2", watts: 4 }] });
  const consoles = new Map<string, string>();
  const host = startBackground(process.execPath, [hostBin, "-v", "qemu", "--base-dir", base, "--step", String(STEP_S), "--powercap-path", powercap]);
  const samples: { ms: number; uj: Record<string, number> }[] = [];
  let polling = true;
  try {
    for (const vm of VMS) {
      quiet(() => virsh("destroy", vm.name));
      quiet(() => virsh("undefine", vm.name));
      const consoleFile = join(dir, `${vm.name}.console`);
      consoles.set(vm.name, consoleFile);
      const xmlFile = join(dir, `${vm.name}.xml`);
      writeFileSync(
        xmlFile,
        labDomainXml({
          name: vm.name,
          type,
          kernel: vmlinuz,
          initrd,
          consoleFile,
          memoryMiB: 1024,
          vcpus: vm.vcpus,
          cmdline: `console=ttyS0 quiet panic=-1 scaph.transport=${vm.transport} scaph.mode=${vm.mode} scaph.seconds=${GUEST_SECONDS} scaph.step=${vm.step}`,
        }),
      );
      virsh("define", xmlFile);
      const s = await runNode(hostBin, ["setup", vm.name, "--transport", vm.transport, "--base-dir", base, "--unit-dir", dir]);
      assert.equal(s.code, 0, s.stderr);
    }
    sim.start();
    const poll = (async () => {
      while (polling) {
        const uj: Record<string, number> = {};
        for (const vm of VMS) {
          const read = async (z: string): Promise<number> => Number(await readFile(join(base, vm.name, z, "energy_uj"), "utf8").catch(() => "NaN"));
          uj[vm.name] = (await read("intel-rapl:0")) + (await read("intel-rapl:0:2"));
        }
        samples.push({ ms: Date.now(), uj });
        await sleep(250);
      }
    })();
    for (const vm of VMS) virsh("start", vm.name);
    const events = new Map<string, ConsoleEvent[]>();
    const deadline = Date.now() + 180_000;
    for (const vm of VMS) {
      const file = consoles.get(vm.name) as string;
      const ev = await waitFor(
        `${vm.name} to finish (console ${file})`,
        async () => {
          const text = await readFile(file, "utf8").catch(() => "");
          if (/Kernel panic/.test(text)) throw new Error(`${vm.name} panicked:\n${text.slice(-2000)}`);
          const e = parseConsole(text);
          return e.some((x) => x.kind === "done") ? e : null;
        },
        Math.max(1000, deadline - Date.now()),
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n--- console of ${vm.name}:\n${existsSync(file) ? readFileSync(file, "utf8").slice(-3000) : "(none)"}`);
      });
      events.set(vm.name, ev);
    }
    polling = false;
    await poll;
    const log = host.output();

    const rows: string[] = [];
    const checks: (() => void)[] = [];
    const row = (...c: (string | number)[]): number => rows.push(c.map(String).join("\t"));
    row("VM", "transport", "uuid (libvirt)", "guest J", "tree J", "diff J", "share of VMs' energy", "max age s", "write in guest");
    // The VMs' energy while both guests were reporting and lab-busy's burner ran
    // (boot and node's start under TCG excluded: they cost both guests alike).
    const windows = VMS.map((v) => reportedEnergyUj(events.get(v.name)!, v.step));
    const burner = Number(events.get("lab-busy")!.find((e) => e.kind === "burner-started")?.fields.now ?? NaN);
    assert.ok(Number.isFinite(burner), "lab-busy started burning");
    const from = Math.max(burner + 2 * STEP_S, ...windows.map((w) => w.firstTs)) * 1000;
    const to = Math.min(...windows.map((w) => w.lastTs)) * 1000;
    const inWindow = samples.filter((x) => x.ms >= from && x.ms <= to);
    const gain = (name: string): number => (inWindow[inWindow.length - 1]?.uj[name] ?? 0) - (inWindow[0]?.uj[name] ?? 0);
    const last: Record<string, number> = Object.fromEntries(VMS.map((v) => [v.name, gain(v.name)]));
    const totalVm = VMS.reduce((a, v) => a + (last[v.name] ?? 0), 0);
    t.diagnostic(`both guests reporting from ${new Date(from).toISOString()} to ${new Date(to).toISOString()} (guest clocks): ${inWindow.length} host samples of the trees`);
    assert.ok(inWindow.length >= 4 && totalVm > 0, `the guests' reporting windows must overlap on the host's samples (${samples[0]?.ms}..${samples[samples.length - 1]?.ms})`);
    for (const vm of VMS) {
      const ev = events.get(vm.name)!;
      const uuid = virsh("domuuid", vm.name).trim();
      assert.match(log, new RegExp(`VM ${vm.name} \\(pid \\d+, uuid ${uuid}, libvirt\\) found`), "discovered through libvirt");
      assert.ok(ev.some((e) => e.kind === "mounted"), `${vm.name} mounted its share`);
      const { uj, firstTs, lastTs } = reportedEnergyUj(ev, vm.step);
      // The tree's gain over the same interval, from the counters the guest's probe read (the host's values, in guest time).
      const probes = ev.filter((e) => e.kind === "age" && e.fields.uj !== undefined).map((e) => ({ t: Number(e.fields.now), uj: Number(e.fields.uj) }));
      const at = (ts: number): number => {
        const before = probes.filter((p) => p.t <= ts).pop() ?? probes[0]!;
        const next = probes.find((p) => p.t > ts) ?? before;
        return next.t === before.t ? before.uj : before.uj + ((next.uj - before.uj) * (ts - before.t)) / (next.t - before.t);
      };
      const treeUj = at(lastTs) - at(firstTs);
      assert.ok(samples.some((x) => x.uj[vm.name] === probes[probes.length - 1]!.uj), "the counter the guest read is one the host wrote");
      const stepWorth = (treeUj / Math.max(1, lastTs - firstTs)) * vm.step;
      const start = Number(ev.find((e) => e.kind === "start")?.fields.now);
      const ages = ev.filter((e) => e.kind === "age" && Number(e.fields.now) >= start + STEP_S).map((e) => Number(e.fields.age));
      const write = ev.find((e) => e.kind === "write-test")?.fields ? ev.find((e) => e.kind === "write-test")!.raw.split(" ")[1] : "?";
      row(vm.name, vm.transport, uuid, (uj / 1e6).toFixed(2), (treeUj / 1e6).toFixed(2), ((uj - treeUj) / 1e6).toFixed(2), ((last[vm.name] ?? 0) / totalVm).toFixed(3), Math.max(...ages), write ?? "?");
      checks.push(() => assert.ok(Math.abs(uj - treeUj) <= stepWorth + 1e6, `${vm.name}: guest ${uj} µJ vs tree ${treeUj} µJ (one step: ${stepWorth})`));
      checks.push(() => assert.ok(ages.length > 0 && ages.every((a) => a <= STEP_S + 1), `${vm.name}: tree ages ${ages.join(",")}`));
      if (vm.transport === "9p") checks.push(() => assert.equal(write, "failed", "a write into the 9p share fails in the guest"));
    }
    for (const r of rows) t.diagnostic(r.replace(/\t/g, " | "));
    for (const c of checks) c();
    assert.ok((last["lab-busy"] ?? 0) >= 0.9 * totalVm, `lab-busy got ${(last["lab-busy"] ?? 0) / totalVm} of the VMs' energy`);

    for (const vm of VMS) {
      quiet(() => virsh("destroy", vm.name));
      const td = await runNode(hostBin, ["teardown", vm.name, "--base-dir", base, "--unit-dir", dir]);
      assert.equal(td.code, 0, td.stderr);
      assert.equal(existsSync(join(base, vm.name)), false, "no tree left");
      assert.doesNotMatch(virsh("dumpxml", "--inactive", vm.name), /scaphandre/, "no share left in the XML");
      assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(join(base, vm.name)), "no mount left");
    }
  } finally {
    polling = false;
    await host.stop();
    await sim.stop();
    for (const vm of VMS) {
      quiet(() => virsh("destroy", vm.name));
      await runNode(hostBin, ["teardown", vm.name, "--base-dir", base, "--unit-dir", dir]);
      quiet(() => virsh("undefine", vm.name));
    }
    await removeTree(powercap);
    if (!process.env.SCAPH_LAB_KEEP) await rm(dir, { recursive: true, force: true });
    mkdirSync(CACHE, { recursive: true });
  }
});
