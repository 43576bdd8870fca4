/**
 * The soak: two libvirt hosts on this machine (the migration lab's: host B
 * is a libvirtd in a mount namespace of its own), each with its daemon on a
 * simulated RAPL tree whose power steps up and down; two real guests under
 * TCG, each reading its energy over the channel and printing it (and a
 * third-party-style reader of its tree); and a seeded random schedule of
 * events: live migrations either way (one aborted midway), daemons killed
 * or stopped and restarted, guests reset, saved and restored, managed-saved
 * and started, suspended and resumed, their channel unplugged and plugged
 * back, a CPU burner, a daemon's state directory full; the guests kill
 * their own agents and flood their ports. The checker (checker.ts) says
 * whether every invariant held all along.
 */
import { execFile, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { copyFixture, PowerSimulator, removeTree } from "@scaph/test-support";
import { hostBin, repoRoot } from "../helpers/cli.js";
import { ensureLibvirtd, quiet, virsh } from "../helpers/libvirtd.js";
import { sleep, startBackground, waitFor } from "../helpers/processes.js";
import { startSecondLibvirtd } from "../helpers/second-libvirtd.js";
import type { SecondLibvirtd } from "../helpers/second-libvirtd.js";
import { labDomainXml } from "../lab/domain.js";
import { labImages } from "../lab/images.js";
import { removeLeftovers } from "../lab/leftovers.js";
import { checkSoak, verdictTable } from "./checker.js";
import type { DaemonSample, SentLine, SoakEvent, SoakVerdict } from "./run.js";
import { GuestConsole } from "./guest-console.js";
import { perform } from "./events.js";
import type { Host, SoakHost } from "./events.js";
import { schedule } from "./schedule.js";

const run = promisify(execFile);
const STEP_S = 1;
const HOSTS = ["A", "B"] as const;
const VMS = ["soak-g1", "soak-g2"] as const;
/** Host B's qemu user: only host B's daemon takes its processes for VMs (both hosts share /proc). */
const USER_B = "scaph-soak-b";
/** The zones whose sum is a VM's energy, as readers add them: the package and dram (the fixture's third sub-domain). */
const ZONES = ["intel-rapl:0", "intel-rapl:0:2"];

export interface SoakOptions {
  /** The seeds of the schedules, run one after the other (each `minutes / seeds.length`). */
  seeds: number[];
  minutes: number;
  say: (line: string) => void;
}

export interface SoakResult {
  verdict: SoakVerdict;
  table: string;
  /** For each breach, the seed, the events so far and the lines around it. */
  report: string;
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const dir = await mkdtemp(join(tmpdir(), "scaph-lab-soak-"));
  chmodSync(dir, 0o777);
  const cleanups: (() => unknown)[] = [];
  const events: SoakEvent[] = [];
  const daemons: DaemonSample[] = [];
  const consoles = new Map<string, GuestConsole>();
  const where = new Map<string, Host>(VMS.map((v) => [v, "A"]));
  const keptOutputs: Record<string, (() => string)[]> = {};
  try {
    const a = await ensureLibvirtd();
    cleanups.push(() => a.stop());
    for (const l of removeLeftovers([...VMS], virsh)) o.say(`leftover of an earlier run: ${l}`);
    // The base dirs: small tmpfs, mounted before host B's namespace is made (it sees them), for the state-full event.
    const base = { A: join(dir, "base-a"), B: join(dir, "base-b") };
    for (const b of Object.values(base)) {
      mkdirSync(b);
      spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "scaph-soak", b]);
      cleanups.push(() => spawnSync("umount", ["--lazy", b]));
    }
    const b: SecondLibvirtd = await startSecondLibvirtd(join(dir, "host-b"), USER_B);
    cleanups.push(() => b.stop());
    const images = await labImages(dir, join(repoRoot, "test", "soak", "guest-init.sh"));
    o.say(images.about);

    const hosts = {} as Record<Host, SoakHost>;
    for (const h of HOSTS) {
      const powercap = await copyFixture("powercap/intel-1socket");
      cleanups.push(() => removeTree(powercap));
      const sim = new PowerSimulator({
        powercapRoot: powercap,
        zones: [
          { zone: "intel-rapl:0", watts: 25 },
          { zone: "intel-rapl:0:2", watts: 2.5 },
        ],
      });
      sim.start();
      cleanups.push(() => sim.stop());
      const vmUser = h === "A" ? "libvirt-qemu" : USER_B;
      const args = [
        hostBin,
        "-vv",
        "qemu",
        "--auto-setup",
        "--domains",
        "^soak-",
        "--base-dir",
        base[h],
        "--step",
        String(STEP_S),
        "--powercap-path",
        powercap,
        "--vm-user",
        vmUser,
      ];
      const host: SoakHost = {
        name: h,
        uri: h === "A" ? "qemu:///system" : b.uri,
        base: base[h],
        powercap,
        sim,
        vmUser,
        daemon: null,
        outputs: [],
        virsh: async (...v: string[]) =>
          (await run("virsh", ["-c", h === "A" ? "qemu:///system" : b.uri, ...v], { encoding: "utf8", timeout: 180_000 })).stdout,
        // host B's daemon runs in host B's namespace, where libvirt's paths (the channels' sockets) are host B's
        startDaemon: () => (h === "A" ? startBackground(process.execPath, args) : b.start(process.execPath, args)),
      };
      host.daemon = host.startDaemon();
      const d = host.daemon;
      host.outputs.push(() => d.output());
      keptOutputs[h] = host.outputs;
      cleanups.push(async () => {
        await host.daemon?.stop();
      });
      hosts[h] = host;
    }
    for (const h of HOSTS)
      await waitFor(`daemon ${h} to subscribe to libvirt's events`, () => (hosts[h].daemon?.output().includes("auto-setup: subscribed") ? true : null), 60_000);

    // The guests, on host A: one busy, one idle; each with a seed of its own for its own chaos.
    for (const [i, vm] of VMS.entries()) {
      const consoleFile = join(dir, `${vm}.console`);
      writeFileSync(consoleFile, "");
      chmodSync(consoleFile, 0o666); // both hosts' qemu users write it
      const xml = join(dir, `${vm}.xml`);
      const seed = (o.seeds[0] ?? 1) * 7 + i;
      writeFileSync(
        xml,
        labDomainXml({
          name: vm,
          image: images,
          consoleFile,
          memoryMiB: 512,
          onReboot: "restart",
          devices: "<controller type='virtio-serial' index='0'/>",
          cmdline: `console=ttyS0 quiet panic=-1 scaph.mode=${i === 0 ? "busy" : "idle"} scaph.step=${STEP_S} scaph.seed=${seed} scaph.read_every=2.37 scaph.chaos=1`,
        }),
      );
      virsh("define", xml);
      await waitFor(`auto-setup to give ${vm} the channel`, () => (virsh("dumpxml", "--inactive", vm).includes("org.scaph.energy.0") ? true : null), 30_000);
      virsh("start", vm);
      consoles.set(vm, new GuestConsole(vm, consoleFile, ZONES));
      cleanups.push(() => {
        for (const h of HOSTS) {
          quiet(() => spawnSync("virsh", ["-c", hosts[h].uri, "destroy", vm]));
          quiet(() => spawnSync("virsh", ["-c", hosts[h].uri, "undefine", "--managed-save", vm]));
        }
      });
    }
    // Consoles read, and the daemons' resources sampled, all along.
    let watching = true;
    const watch = (async () => {
      let k = 0;
      while (watching) {
        for (const c of consoles.values()) c.poll();
        // a guest whose kernel failed is reset (it may be wedged, not rebooting), as an operator would
        for (const [vm, c] of consoles) {
          if (!c.crashPending) continue;
          c.crashPending = false;
          o.say(`${vm}: its kernel failed (see its console): reset`);
          void hosts[where.get(vm) ?? "A"].virsh("reset", vm).catch((err: unknown) => {
            o.say(`${vm}: reset after its kernel failed: ${String(err).split("\n")[0]}; tried again`);
            c.crashPending = true;
          });
        }
        if (k++ % 25 === 0) for (const h of HOSTS) sampleDaemon(hosts[h], daemons);
        await sleep(200);
      }
    })();
    cleanups.push(async () => {
      watching = false;
      await watch;
    });
    await waitFor("both guests to apply their first lines", () => ([...consoles.values()].every((c) => c.applied.length >= 3) ? true : null), 300_000);
    o.say("both guests apply their lines: the schedule begins");

    const per = (o.minutes * 60) / o.seeds.length;
    let breachAt: number | null = null;
    for (const seed of o.seeds) {
      const plan = schedule(seed, per, HOSTS, VMS);
      o.say(`seed ${seed}: ${plan.events.length} events over ${per} s: ${plan.events.map((e) => `${e.atS}s ${e.type} ${e.target}`).join(", ")}`);
      const t0 = Date.now();
      const power = (async () => {
        for (const p of plan.power) {
          await sleep(Math.max(0, t0 + p.atS * 1000 - Date.now()));
          if (!watching || breachAt !== null) return;
          hosts[p.host as Host].sim.setWatts("intel-rapl:0", p.watts);
          hosts[p.host as Host].sim.setWatts("intel-rapl:0:2", p.watts / 10);
        }
      })();
      for (const e of plan.events) {
        await sleep(Math.max(0, t0 + e.atS * 1000 - Date.now()));
        const startMs = Date.now();
        try {
          await perform(e, hosts, where, consoles, o.say);
        } catch (err) {
          o.say(`event ${e.type} ${e.target} failed: ${err instanceof Error ? err.message.split("\n").slice(0, 3).join(" ") : String(err)}`);
        }
        events.push({ type: e.type, target: e.target, startMs, endMs: Date.now() });
        o.say(
          `${((Date.now() - t0) / 1000).toFixed(0)} s: ${e.type} ${e.target} in ${((Date.now() - startMs) / 1000).toFixed(1)} s; ${[...where].map(([v, h]) => `${v} on ${h}`).join(", ")}`,
        );
        // checked as it goes: a breach ends the run at once
        const v = verdictOf(hosts, consoles, events, daemons);
        if (v.breaches.length > 0) {
          breachAt = v.breaches[0]!.atMs;
          break;
        }
      }
      if (breachAt !== null) break; // (the power steps end with the run)
      await sleep(Math.max(0, t0 + per * 1000 - Date.now()));
      await power;
    }
    await sleep(5 * STEP_S * 1000); // the last event's lines come in
    for (const c of consoles.values()) c.poll();
    const verdict = verdictOf(hosts, consoles, events, daemons);
    // a run in which nothing was held against the hosts proves nothing
    if (breachAt === null && (verdict.checked.reports === 0 || verdict.checked.readerWindows === 0)) {
      verdict.breaches.push({
        invariant: "no spike",
        vm: null,
        atMs: Date.now(),
        what: `nothing checked: ${verdict.checked.reports} reports and ${verdict.checked.readerWindows} reader windows held against the hosts' lines`,
      });
    }
    const table = verdictTable(verdict, STEP_S);
    const report = verdict.breaches
      .map((br) => {
        const around = br.vm ? (consoles.get(br.vm)?.around(br.atMs) ?? []) : [];
        const daemonsLog = HOSTS.map((h) => `--- daemon ${h}:\n${hosts[h].daemon?.output().split("\n").slice(-40).join("\n") ?? ""}`).join("\n");
        return [
          `BREACH (${br.invariant}) ${br.vm ?? ""}: ${br.what}`,
          `seeds: ${o.seeds.join(", ")}`,
          "events so far:",
          ...events.map((e) => `  ${new Date(e.startMs).toISOString()} ${e.type} ${e.target}`),
          "lines around it:",
          ...around,
          daemonsLog,
        ].join("\n");
      })
      .join("\n\n");
    return { verdict, table, report };
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // the next clean-up still runs
      }
    }
    if (process.env.SCAPH_LAB_KEEP) {
      for (const [h, outs] of Object.entries(keptOutputs)) writeFileSync(join(dir, `daemon-${h}.log`), outs.map((f) => f()).join("\n--- restarted\n"));
      o.say(`kept ${dir} (SCAPH_LAB_KEEP)`);
    } else rmSync(dir, { recursive: true, force: true });
  }
}

/** A line a daemon sent (its debug log): `channel: VM <name> epoch <e> seq <n> t <s> step <s>: <zone>=<µJ> ...`. */
const SENT = /channel: VM (\S+) epoch (\S+) seq (\d+) t ([\d.]+) step ([\d.]+): (.*)$/;

/** Every line the hosts' daemons sent, from their logs. */
function sentLines(hosts: Record<Host, SoakHost>): SentLine[] {
  const out: SentLine[] = [];
  for (const h of HOSTS) {
    for (const output of hosts[h].outputs) {
      for (const l of output().split("\n")) {
        const m = SENT.exec(l);
        if (!m) continue;
        const values = new Map(m[6]!.split(" ").map((kv) => kv.split("=") as [string, string]));
        out.push({
          host: h,
          vm: m[1]!,
          epoch: m[2]!,
          seq: Number(m[3]),
          tS: Number(m[4]),
          stepS: Number(m[5]),
          uj: ZONES.reduce((x, z) => x + Number(values.get(z) ?? 0), 0),
        });
      }
    }
  }
  return out;
}

/** What the checker takes, as things stand. */
function verdictOf(hosts: Record<Host, SoakHost>, consoles: Map<string, GuestConsole>, events: SoakEvent[], daemons: DaemonSample[]): SoakVerdict {
  const cs = [...consoles.values()];
  return checkSoak({
    lines: sentLines(hosts),
    applied: cs.flatMap((c) => c.applied),
    reports: cs.flatMap((c) => c.reports),
    reader: cs.flatMap((c) => c.reader),
    events: [...events, ...cs.flatMap((c) => c.events)],
    agentDown: cs.flatMap((c) => c.agentDown()),
    daemons,
    stepS: STEP_S,
    vms: [...VMS],
    nowMs: Date.now(),
  });
}

function sampleDaemon(h: SoakHost, out: DaemonSample[]): void {
  const pid = h.daemon?.child.pid;
  if (!pid || h.daemon?.child.exitCode !== null) return;
  try {
    const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) * 1024;
    out.push({ host: h.name, ms: Date.now(), rssBytes: rss, fds: readdirSync(`/proc/${pid}/fd`).length });
  } catch {
    // it ended meanwhile
  }
}
