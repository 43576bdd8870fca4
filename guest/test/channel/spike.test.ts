/**
 * The channel lab's one spike (a guest report of 101.8 W on a 44 W host),
 * reproduced from lines and events alone, on a fake clock.
 *
 * The path: the lab's simulated RAPL tree was advanced by a timer on the
 * test's own thread, and `virsh save` / `virsh restore` ran synchronously on
 * that thread, so the simulated counters stood still for the seconds they
 * took and then caught up in one jump. The host's daemon measured that jump
 * within one step (a host "drawing" 2.6 times its power), and gave most of
 * it to the just-restored VM, whose channel had begun a new epoch: its first
 * line covered one step, so the guest reported the jump as power, exactly as
 * the host attributed it. Nothing in the channel or the guest was wrong; the
 * simulated host was. The simulator now advances its tree on a thread of
 * its own (test-support's PowerSimulator), which a blocked test thread
 * cannot stall: the same events give no report above the host's power.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, encodeMessage, Meter, parseUj, ProcessTable } from "@scaph/common";
import type { ChannelMessage } from "@scaph/common";
import { copyFixture, removeTree, SimulatedTree } from "@scaph/test-support";
import { ChannelReceiver } from "../../src/channel/receiver.js";
import { ChannelSensor } from "../../src/channel/sensor.js";

const STEP_S = 2;
const HOST_W = 44; // package 40 W + dram 4 W, as in the channel lab
const VM_SHARE = 0.9; // the busy guest's share of the host's energy
const MAX = 262143328850;
/** The host's clock at the fake clock's 0 (Unix s): the lab's day. */
const HOST_T = 1_795_904_200;
/** `virsh save` then `virsh restore` block the test's thread from SAVE_AT for BLOCKED_S (s); the VM runs again at the end. */
const SAVE_AT = 20.9;
const BLOCKED_S = 3.2;
/** The first host step that sees the restored VM: its channel's new epoch begins one step before. */
const BACK_AT = Math.ceil((SAVE_AT + BLOCKED_S) / STEP_S) * STEP_S;

/**
 * The lab, on a fake clock: the host's daemon steps every 2 s, measuring its
 * simulated tree; the guest reports every 2 s. At SAVE_AT the test's
 * thread runs `virsh save` then `virsh restore` for BLOCKED_S: the VM is
 * gone, then back with a new epoch. `stalls`: whether the simulator stood
 * still meanwhile (a timer on the blocked thread) or went on (its own thread).
 * Returns the guest's reports (W).
 */
async function channelLab(stalls: boolean): Promise<number[]> {
  const host = await copyFixture("powercap/intel-1socket");
  const proc = await copyFixture("proc/basic");
  const guestTree = await mkdtemp(join(tmpdir(), "scaph-spike-"));
  try {
    const sim = new SimulatedTree({
      powercapRoot: host,
      zones: [
        { zone: "intel-rapl:0", watts: HOST_W - 4 },
        { zone: "intel-rapl:0:2", watts: 4 },
      ],
    });
    const energy = async (): Promise<number> =>
      (parseUj(await readFile(join(host, "intel-rapl:0", "energy_uj"), "utf8")) ?? 0) +
      (parseUj(await readFile(join(host, "intel-rapl:0:2", "energy_uj"), "utf8")) ?? 0);
    const receiver = new ChannelReceiver({ tree: guestTree, port: () => null, log: createLogger({ level: "error" }) });
    const guest = new Meter(new ChannelSensor(receiver, guestTree), new ProcessTable({ procRoot: proc, clockTicks: 100, pageSize: 4096 }));
    guest.prime();
    const reports: number[] = [];
    let epoch = "before-save";
    let t0 = 0;
    let seq = 0;
    let vmUj = 0;
    let last = await energy();
    // The host's step at time t: its simulated tree read, the VM's share of the gain, the VM's line.
    const hostStep = async (t: number, vmRuns: boolean): Promise<void> => {
      const now = await energy();
      const gain = now - last;
      last = now;
      if (!vmRuns) return;
      vmUj += Math.round(VM_SHARE * gain);
      const m: ChannelMessage = {
        v: 1,
        epoch,
        seq: ++seq,
        t: HOST_T + t,
        t0: HOST_T + t0,
        step_s: STEP_S,
        zones: [{ zone: "intel-rapl:0", name: "package-0", energy_uj: vmUj, max_energy_range_uj: MAX }],
      };
      receiver.receive(encodeMessage(m));
    };
    const tick = 0.01;
    for (let t = 0; t < 40; t = Math.round((t + tick) * 100) / 100) {
      const blocked = t >= SAVE_AT && t < SAVE_AT + BLOCKED_S;
      // The simulator's 10 ms timer: on the blocked thread it does not run, and its next tick adds the time missed.
      if (!(stalls && blocked)) sim.advance(stalls && t === Math.round((SAVE_AT + BLOCKED_S) * 100) / 100 ? BLOCKED_S + tick : tick);
      if (Math.abs(t / STEP_S - Math.round(t / STEP_S)) < 1e-9 && t > 0) {
        const gone = t >= SAVE_AT && t < BACK_AT; // saved, then restoring
        if (!gone && epoch === "before-save" && t >= SAVE_AT) {
          epoch = "after-restore"; // the VM came back: its channel begins a new epoch, counting from this step
          t0 = t - STEP_S;
          vmUj = 0;
          seq = 0;
        }
        await hostStep(t, !gone);
        // The guest's step, just after the host's line came.
        try {
          reports.push(guest.measure().host.powerUw / 1e6);
        } catch {
          // no new line since its last step: skipped
        }
      }
    }
    return reports;
  } finally {
    await removeTree(host);
    await removeTree(proc);
    await rm(guestTree, { recursive: true, force: true });
  }
}

test("the channel lab's spike, from lines alone: a simulator stalled by a blocked test thread makes the restored VM's first step report 2.6 times the host's power", async () => {
  const reports = await channelLab(true);
  const top = Math.max(...reports);
  assert.ok(top > 2 * HOST_W, `the highest report: ${top.toFixed(1)} W (the lab's 101.8 W)`);
  // all the host energy since the stall began, in the restored VM's first step
  const expected = (VM_SHARE * HOST_W * (BACK_AT - SAVE_AT)) / STEP_S;
  assert.ok(Math.abs(top - expected) < 0.5, `${top} W: the VM's share of ${BACK_AT - SAVE_AT} s of host energy, in ${STEP_S} s (${expected} W)`);
});

test("the same events with a simulator that never stalls: every report at most the VM's share of the host's power", async () => {
  const reports = await channelLab(false);
  assert.ok(reports.length >= 15, `${reports.length} reports`);
  for (const w of reports) assert.ok(w <= VM_SHARE * HOST_W * 1.001, `a report of ${w.toFixed(2)} W, above ${VM_SHARE * HOST_W} W`);
});
