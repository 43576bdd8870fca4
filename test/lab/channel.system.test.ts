/**
 * The channel transport with a real guest (`npm run test:lab`): a domain
 * started after a daemon with --auto-setup gets the channel hot-plugged with
 * no manual step, and the guest's own tree is kept from the host's lines
 * through a daemon restart, a save/restore (qemu's migration stream), a
 * restart of the guest's agent and a guest flooding the port.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin, runNode } from "../helpers/cli.js";
import { ensureLibvirtd, quiet, virsh } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";
import { startBackground, waitFor } from "../helpers/processes.js";
import type { Background } from "../helpers/processes.js";
import { clockOffset, reportedEnergy, treeGain } from "./accuracy.js";
import { consoleEvents, consoleProbes, consoleReports, guestDone } from "./console.js";
import type { ConsoleEvent } from "./console.js";
import { DaemonHistory, pollStatus } from "./daemon-history.js";
import { freshLabDomain } from "./domain.js";
import { labImages } from "./images.js";
import { removeLeftovers } from "./leftovers.js";

const STEP_S = 2;
const NAME = "lab-chan";
/** Guest seconds (from its init): the agent stops at RESTART_AT, the port is flooded for 5 s, the agent starts again. */
const RESTART_AT = 40;
const GUEST_SECONDS = 56;
const WATTS = 44;

let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

test(
  "lab: the channel, hot-plugged by --auto-setup into a guest started after the daemon, through a daemon restart, a save/restore, an agent restart and a flood",
  { timeout: 300_000 },
  async (t) => {
    requireRoot("it starts libvirtd and boots a guest through it");
    daemon = await ensureLibvirtd();
    for (const l of removeLeftovers([NAME], virsh)) console.log(`# leftover of an earlier run: ${l}`);
    const dir = await mkdtemp(join(tmpdir(), "scaph-lab-chan-"));
    chmodSync(dir, 0o777);
    const { vmlinuz, initrd, type, about } = await labImages(dir);
    t.diagnostic(about);
    const base = join(dir, "trees");
    const powercap = await copyFixture("powercap/intel-1socket");
    const sim = new PowerSimulator({
      powercapRoot: powercap,
      zones: [
        { zone: "intel-rapl:0", watts: WATTS - 4 },
        { zone: "intel-rapl:0:2", watts: 4 },
      ],
    });
    const consoleFile = join(dir, `${NAME}.console`);
    const startDaemon = (): Background =>
      startBackground(process.execPath, [
        hostBin,
        "-v",
        "qemu",
        "--auto-setup",
        "--domains",
        `^${NAME}$`,
        "--base-dir",
        base,
        "--step",
        String(STEP_S),
        "--powercap-path",
        powercap,
      ]);
    let host = startDaemon();
    const history = new DaemonHistory(NAME);
    const poll = pollStatus(base, history);
    try {
      const xml = freshLabDomain(dir, {
        name: NAME,
        image: { type, vmlinuz, initrd },
        consoleFile,
        memoryMiB: 1024,
        // A virtio-serial controller, as a guest agent channel brings: what a channel hot-plug needs.
        devices: "<controller type='virtio-serial' index='0'/>",
        cmdline: `console=ttyS0 quiet panic=-1 scaph.transport=channel scaph.mode=busy scaph.seconds=${GUEST_SECONDS} scaph.step=${STEP_S} scaph.restart_at=${RESTART_AT}`,
      });
      sim.start();
      await waitFor("the daemon to subscribe to libvirt's events", () => (host.output().includes("auto-setup: subscribed") ? true : null), 30_000);
      // A transient domain (nothing persistent to edit): started, it gets the channel hot-plugged, no manual step.
      virsh("create", xml);
      await waitFor("auto-setup to hot-plug the channel", () => (/name='org\.scaph\.energy\.0'/.test(virsh("dumpxml", NAME)) ? true : null), 30_000);
      // (libvirt shows the device before the daemon's call has returned and its log line has come through the pipe)
      const plugged = new RegExp(`auto-setup: ${NAME}: the channel org\\.scaph\\.energy\\.0 hot-plugged`);
      await waitFor("the daemon to say it hot-plugged the channel", () => (plugged.test(host.output()) ? true : null), 30_000);
      const events = (): Promise<ConsoleEvent[]> => consoleEvents(consoleFile);
      await waitFor("the guest to start its agent", async () => ((await events()).some((e) => e.kind === "start") ? true : null), 120_000);
      // 1. The channel was plugged while the guest booted: from here, the agent finds its port at once.
      const agentMs = Date.now();
      /** Lines the guest applied from an epoch. */
      const appliedFrom = async (epoch: string | undefined): Promise<number> =>
        (await events()).filter((e) => e.kind === "guest-log" && epoch !== undefined && e.raw.includes(`applied epoch ${epoch} seq`)).length;
      const newest = (): string | undefined => [...history.bySeq.keys()].pop();
      // 2. The daemon restarted mid-run, once the guest has applied a few of its lines (a loaded machine's
      // TCG guest starts its agent slowly: the wait is on what the guest did, not on time).
      // (Lines written before the agent opened the port wait in qemu and come at once: count the guest's probes.)
      await waitFor(
        "the guest to read its tree in the daemon's first epoch",
        async () => ((await events()).filter((e) => e.kind === "probe").length >= 6 ? true : null),
        60_000,
      );
      const firstEpoch = newest();
      await host.stop();
      const restartMs = Date.now();
      host = startDaemon();
      // 3. save + restore: qemu's migration stream, once the guest applied lines of the new daemon's epoch.
      await waitFor(
        "the guest to apply lines of the restarted daemon's epoch",
        async () => {
          const e = newest();
          return e !== firstEpoch && (await appliedFrom(e)) >= 2 ? true : null;
        },
        60_000,
      );
      const saved = join(dir, "saved.img");
      virsh("save", NAME, saved);
      const saveMs = Date.now();
      virsh("restore", saved);
      const restoreMs = Date.now();
      // 4. The guest stops its agent, floods the port, and starts the agent again, on its own.
      const ev = await guestDone(NAME, consoleFile);
      await poll.stop();
      const log = host.output();

      // The guest's clock against the host's, from its probes of the first epoch (before the daemon restart),
      // where the guest's tree holds exactly the daemon's counters.
      const first = [...history.epochs.values()][0];
      assert.ok(first, `the daemon wrote the channel (log: ${log})`);
      const probes = consoleProbes(ev).filter((p) => Number.isFinite(p.uj));
      // The lines the daemon wrote while the guest's agent was starting wait in qemu and come at once, the newest
      // of them possibly several steps old (while the guest does not read, the daemon drops its lines): the
      // guest's tree is the daemon's counter of the moment only from the first line that came on its own.
      const firstLines = ev
        .filter((e) => e.kind === "guest-log" && e.raw.includes(`applied epoch ${firstEpoch} seq`))
        .map((e) => ({ ms: Date.parse(e.raw.split(/\s+/)[1] ?? ""), seq: Number(/seq (\d+)/.exec(e.raw)?.[1]) }));
      const solo = firstLines.find((l, i) => i > 0 && l.ms - firstLines[i - 1]!.ms > (STEP_S * 1000) / 2);
      const caughtUpUj = solo ? (history.bySeq.get(firstEpoch ?? "")?.get(solo.seq)?.uj ?? 0) : 0;
      const firstProbes = probes.filter((p) => first.spans(p.uj).length > 0 && p.uj >= caughtUpUj);
      assert.ok(firstProbes.length >= 3, `${firstProbes.length} probes in the first epoch`);
      const off = clockOffset(firstProbes, first);
      const mid = (off.loMs + off.hiMs) / 2;
      const toHost = (guestMs: number): number => guestMs - mid;

      // The guest's tree from the host's lines within two steps of its agent's start (and its one-second look for the port).
      const firstRead = firstProbes[0]!;
      const latency = toHost(firstRead.g2Ms) - agentMs;
      t.diagnostic(
        `agent start to the guest's first reading of its tree: ${(latency / 1000).toFixed(1)} s (offset ${mid.toFixed(0)} ± ${((off.hiMs - off.loMs) / 2).toFixed(0)} ms)`,
      );
      // A figure, not a bound: it includes node's start-up inside a TCG guest, which a busy machine stretches.
      assert.ok(Number.isFinite(latency) && latency > 0, `first reading ${latency} ms after the agent started`);

      // Never a decrease of the guest's counter: across the daemon restart, the save/restore and the agent restart.
      for (let i = 1; i < probes.length; i++) assert.ok(probes[i]!.uj >= probes[i - 1]!.uj, `probe ${i}: ${probes[i - 1]!.uj} -> ${probes[i]!.uj} µJ`);

      // The first epoch: the guest's reports add up to what the daemon sent, within one step.
      const reports = consoleReports(ev);
      const firstWindow = reports.filter((r) => toHost(r.ts * 1000) < restartMs);
      if (firstWindow.length >= 3) {
        const w = reportedEnergy(firstWindow);
        const gain = treeGain(first, w.fromS, w.toS, mid);
        const step = first.maxStepUj(toHost(w.fromS * 1000), toHost(w.toS * 1000));
        t.diagnostic(`first epoch: guest ${(w.uj / 1e6).toFixed(2)} J, daemon ${(gain / 1e6).toFixed(2)} J, one step ${(step / 1e6).toFixed(2)} J`);
        assert.ok(Math.abs(w.uj - gain) <= step, `guest ${w.uj} µJ vs daemon ${gain} µJ`);
      }

      // No negative power and no spike in any report: never above the host's whole power, whatever happened.
      for (const r of reports) assert.ok(r.uw >= 0 && r.uw <= 1.5 * WATTS * 1e6, `report at ${r.ts}: ${r.uw} µW`);

      // The daemon restart: a new epoch, and the guest lost at most one step of energy across it: what the old
      // daemon counted after the last of its lines the guest applied (the guest logs each line it applies).
      assert.ok(history.epochs.size >= 2, `epochs: ${[...history.epochs.keys()].join(", ")}`);
      const [oldEpoch] = [...history.bySeq.keys()];
      const applied = ev
        .filter((e) => e.kind === "guest-log" && e.raw.includes(`applied epoch ${oldEpoch} seq`))
        .map((e) => Number(/seq (\d+)/.exec(e.raw)?.[1]));
      const lastApplied = Math.max(...applied);
      const oldLines = history.bySeq.get(oldEpoch!)!;
      const finalOld = Math.max(...[...oldLines.values()].map((l) => l.uj));
      const lostUj = finalOld - (oldLines.get(lastApplied)?.uj ?? NaN);
      t.diagnostic(
        `daemon restart: the old daemon counted ${(finalOld / 1e6).toFixed(2)} J, the guest applied its line ${lastApplied} of ${Math.max(...oldLines.keys())}: ${(lostUj / 1e6).toFixed(2)} J lost`,
      );
      assert.ok(lostUj >= 0 && lostUj <= first.maxStepUj(), `${lostUj} µJ lost across the daemon restart (one step: ${first.maxStepUj()} µJ)`);

      // The save/restore worked with the channel, and the restored VM was written to again.
      assert.ok(
        ev.some((e) => e.kind === "done"),
        "the guest ran to its end after the restore",
      );
      assert.ok(restoreMs > saveMs);
      const afterRestore = probes.filter((p) => toHost(p.g1Ms) > restoreMs + 2 * STEP_S * 1000);
      assert.ok(afterRestore.length >= 2 && afterRestore[afterRestore.length - 1]!.uj > afterRestore[0]!.uj, "the counter grows after the restore");

      // The agent restart (guest side) and the flood: the agent continued from its state, and the daemon's
      // steps kept their pace while the guest flooded the port.
      assert.ok(
        ev.some((e) => e.kind === "agent-restarted"),
        "the guest restarted its agent",
      );
      assert.ok(
        ev.some((e) => e.kind === "guest-log" && /continuing from/.test(e.raw)),
        "the restarted agent continued from its state file",
      );
      const fs = ev.find((e) => e.kind === "flood-start");
      const fe = ev.find((e) => e.kind === "flood-end");
      assert.ok(fs && fe && fs.fields.port?.startsWith("/dev/vport"), `the guest flooded its port ${fs?.fields.port}`);
      const flood = [toHost(Number(fs.fields.now) * 1000), toHost(Number(fe.fields.now) * 1000 + 1000)] as const;
      const during = history.steps.filter((ms) => ms >= flood[0] - STEP_S * 1000 && ms <= flood[1] + STEP_S * 1000);
      const gaps = during.slice(1).map((ms, i) => ms - during[i]!);
      t.diagnostic(`daemon steps around the flood: ${gaps.map((g) => (g / 1000).toFixed(2)).join(", ")} s`);
      assert.ok(gaps.length >= 2 && gaps.every((g) => g <= 1.5 * STEP_S * 1000), "the daemon's loop kept its pace during the flood");
      assert.ok(statSync(consoleFile).size > 0);
    } finally {
      await poll.stop();
      await host.stop();
      await sim.stop();
      quiet(() => virsh("destroy", NAME));
      await runNode(hostBin, ["teardown", NAME, "--base-dir", base]);
      quiet(() => virsh("undefine", NAME));
      await removeTree(powercap);
      if (!process.env.SCAPH_LAB_KEEP) await rm(dir, { recursive: true, force: true });
    }
  },
);
