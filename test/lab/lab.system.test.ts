/**
 * The real-VM lab (`npm run test:lab`): two guests booted by a real libvirtd,
 * each reading its own power through virtiofs or 9p with scaph-guest.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin, runNode } from "../helpers/cli.js";
import { sleep, startBackground, waitFor } from "../helpers/processes.js";
import { clockOffset, readAgesMs, reportedEnergy, treeGain, TreeHistory } from "./accuracy.js";
import type { TreeWrite } from "./accuracy.js";
import { consoleProbes, consoleReports, guestCpuPercent, parseConsole } from "./console.js";
import type { ConsoleEvent } from "./console.js";
import { freshLabDomain } from "./domain.js";
import { LAB_CACHE as CACHE, labImages } from "./images.js";
import { ensureLibvirtd, quiet, virsh } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";
import { removeLeftovers } from "./leftovers.js";

const STEP_S = 2;
const GUEST_SECONDS = 40;
/** lab-busy burns two vCPUs; lab-idle reads every other step: under TCG even an idle guest running node costs ~15% of a host CPU. */
const VMS = [
  { name: "lab-busy", mode: "busy", transport: "virtiofs", step: STEP_S, vcpus: 2 },
  { name: "lab-idle", mode: "idle", transport: "9p", step: 2 * STEP_S, vcpus: 1 },
] as const;

let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

/**
 * A VM's tree as the host wrote it: package + dram, at the package file's
 * mtime. The host writes dram, then the package (each by rename), so dram is
 * read before and after the package, from one open file each.
 */
async function readTree(dir: string): Promise<TreeWrite | null> {
  const num = async (f: string): Promise<number> => Number(await readFile(f, "utf8"));
  for (let i = 0; i < 5; i++) {
    try {
      const d1 = await num(join(dir, "intel-rapl:0:2", "energy_uj"));
      const fh = await open(join(dir, "intel-rapl:0", "energy_uj"), "r");
      const [st, text] = await Promise.all([fh.stat({ bigint: true }), fh.readFile("utf8")]).finally(() => fh.close());
      const d2 = await num(join(dir, "intel-rapl:0:2", "energy_uj"));
      if (d1 === d2 && Number.isFinite(d1)) return { hostMs: Number(st.mtimeNs) / 1e6, uj: Number(text) + d1 };
    } catch {
      return null; // no tree yet
    }
  }
  return null;
}

test("lab: two real guests read their own power through virtiofs and 9p", { timeout: 300_000 }, async (t) => {
  requireRoot("it starts libvirtd and boots guests through it");
  daemon = await ensureLibvirtd();
  for (const l of removeLeftovers(
    VMS.map((v) => v.name),
    virsh,
  ))
    console.log(`# leftover of an earlier run: ${l}`);
  const dir = await mkdtemp(join(tmpdir(), "scaph-lab-"));
  chmodSync(dir, 0o777);
  const base = join(dir, "trees");
  const { vmlinuz, initrd, type, about } = await labImages(dir);
  t.diagnostic(about);

  const powercap = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({
    powercapRoot: powercap,
    zones: [
      { zone: "intel-rapl:0", watts: 40 },
      { zone: "intel-rapl:0:2", watts: 4 },
    ],
  });
  const consoles = new Map<string, string>();
  const host = startBackground(process.execPath, [
    hostBin,
    "-v",
    "qemu",
    "--base-dir",
    base,
    "--step",
    String(STEP_S),
    "--substeps",
    "1",
    "--powercap-path",
    powercap,
  ]);
  const trees = new Map<string, TreeHistory>(VMS.map((v) => [v.name, new TreeHistory()]));
  let polling = true;
  try {
    for (const vm of VMS) {
      const consoleFile = join(dir, `${vm.name}.console`);
      consoles.set(vm.name, consoleFile);
      const xmlFile = freshLabDomain(dir, {
        name: vm.name,
        image: { type, vmlinuz, initrd },
        consoleFile,
        memoryMiB: 1024,
        vcpus: vm.vcpus,
        cmdline: `console=ttyS0 quiet panic=-1 scaph.transport=${vm.transport} scaph.mode=${vm.mode} scaph.seconds=${GUEST_SECONDS} scaph.step=${vm.step}`,
      });
      virsh("define", xmlFile);
      const s = await runNode(hostBin, ["setup", vm.name, "--transport", vm.transport, "--base-dir", base, "--unit-dir", dir]);
      assert.equal(s.code, 0, s.stderr);
    }
    sim.start();
    const poll = (async () => {
      while (polling) {
        for (const vm of VMS) {
          const w = await readTree(join(base, vm.name));
          if (w) trees.get(vm.name)!.add(w);
        }
        await sleep(200);
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
    row(
      "VM",
      "transport",
      "uuid (libvirt)",
      "clock offset ms",
      "guest J",
      "tree J",
      "diff J",
      "one step J",
      "share of VMs' energy",
      "guest CPU %",
      "max age ms",
      "write in guest",
    );
    // Each guest's clock against the host's, from the counters it read.
    const offsets = new Map<string, { loMs: number; hiMs: number; midMs: number }>(
      VMS.map((v) => {
        const probes = consoleProbes(events.get(v.name)!);
        assert.ok(probes.length >= 4, `${v.name} printed ${probes.length} probes of its tree`);
        const o = clockOffset(probes, trees.get(v.name)!);
        return [v.name, { ...o, midMs: (o.loMs + o.hiMs) / 2 }];
      }),
    );
    // The share: the VMs' energy (host time) while both guests were reporting and
    // lab-busy's burner ran (boot and node's start under TCG cost both alike).
    const toHost = (name: string, guestS: number): number => guestS * 1000 - offsets.get(name)!.midMs;
    const windows = VMS.map((v) => reportedEnergy(consoleReports(events.get(v.name)!)));
    const burner = Number(events.get("lab-busy")!.find((e) => e.kind === "burner-started")?.fields.now ?? NaN);
    assert.ok(Number.isFinite(burner), "lab-busy started burning");
    const from = Math.max(toHost("lab-busy", burner + 1 + 2 * STEP_S), ...VMS.map((v, i) => toHost(v.name, windows[i]!.fromS)));
    const to = Math.min(...VMS.map((v, i) => toHost(v.name, windows[i]!.toS)));
    t.diagnostic(`both guests reporting, burner on: ${new Date(from).toISOString()} to ${new Date(to).toISOString()} (host clock)`);
    assert.ok(to - from >= 4 * STEP_S * 1000, "the guests' reporting windows overlap by at least four steps while the burner runs");
    const share = new Map(VMS.map((v) => [v.name, trees.get(v.name)!.valueAt(to) - trees.get(v.name)!.valueAt(from)]));
    const totalVm = [...share.values()].reduce((x, y) => x + y, 0);
    for (const [i, vm] of VMS.entries()) {
      const ev = events.get(vm.name)!;
      const tree = trees.get(vm.name)!;
      const off = offsets.get(vm.name)!;
      const uuid = virsh("domuuid", vm.name).trim();
      assert.match(log, new RegExp(`VM ${vm.name} \\(pid \\d+, uuid ${uuid}, libvirt\\) found`), "discovered through libvirt");
      assert.ok(
        ev.some((e) => e.kind === "mounted"),
        `${vm.name} mounted its share`,
      );
      const { uj, fromS, toS } = windows[i]!;
      const treeUj = treeGain(tree, fromS, toS, off.midMs);
      const stepUj = tree.maxStepUj(toHost(vm.name, fromS), toHost(vm.name, toS));
      // Ages once scaph-guest runs (the first probes may see the tree the daemon wrote before the guest booted).
      const start = Number(ev.find((e) => e.kind === "start")?.fields.now);
      const ages = readAgesMs(
        consoleProbes(ev).filter((p) => p.g1Ms >= (start + STEP_S) * 1000),
        tree,
        off.midMs,
      );
      const write = ev.find((e) => e.kind === "write-test")?.raw.split(" ")[1] ?? "?";
      row(
        vm.name,
        vm.transport,
        uuid,
        `${off.midMs.toFixed(0)} ± ${((off.hiMs - off.loMs) / 2).toFixed(0)}`,
        (uj / 1e6).toFixed(2),
        (treeUj / 1e6).toFixed(2),
        ((uj - treeUj) / 1e6).toFixed(2),
        (stepUj / 1e6).toFixed(2),
        ((share.get(vm.name) ?? 0) / totalVm).toFixed(3),
        guestCpuPercent(ev, (from + off.midMs) / 1000, (to + off.midMs) / 1000).toFixed(1),
        Math.max(...ages).toFixed(0),
        write,
      );
      checks.push(() => assert.ok(Math.abs(uj - treeUj) <= stepUj, `${vm.name}: guest ${uj} µJ vs tree ${treeUj} µJ (one step: ${stepUj} µJ)`));
      // One step, plus the offset's uncertainty and 250 ms for the daemon's own scheduling under TCG contention.
      checks.push(() =>
        assert.ok(
          ages.length > 0 && ages.every((a) => a <= 1000 * STEP_S + (off.hiMs - off.loMs) / 2 + 250),
          `${vm.name}: tree ages (ms) ${ages.map((a) => a.toFixed(0)).join(",")}`,
        ),
      );
      if (vm.transport === "9p") checks.push(() => assert.equal(write, "failed", "a write into the 9p share fails in the guest"));
    }
    for (const r of rows) t.diagnostic(r.replace(/\t/g, " | "));
    for (const c of checks) c();
    const busyShare = (share.get("lab-busy") ?? 0) / totalVm;
    assert.ok(busyShare >= 0.9, `lab-busy got ${busyShare} of the VMs' energy`);

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
