/**
 * Live migration between two libvirt hosts on this machine (`npm run
 * test:lab`): host A is the machine's libvirtd, host B a second libvirtd in
 * a private mount namespace (test/helpers/second-libvirtd.ts). Each runs
 * `scaph-host qemu --auto-setup` on a fake powercap tree of known power.
 * Both hosts share /proc, so each daemon accepts only its own host's qemu
 * user (--vm-user): host B runs qemu as its own user, which host A's daemon
 * does not accept, and the other way round. A guest with no disk moves
 * A→B and back while its agent keeps its tree from the channel; the test
 * checks that the destination delivers within a few steps with no manual
 * step, that the guest's counter never goes back, that no step reads above
 * the host's whole power, that every value the guest read is a sum of what
 * the daemons sent, and prints what each move lost.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin, runNode } from "../helpers/cli.js";
import { ensureLibvirtd, quiet, virsh } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";
import { freePort, sleep, startBackground, waitFor } from "../helpers/processes.js";
import type { Background } from "../helpers/processes.js";
import { startSecondLibvirtd } from "../helpers/second-libvirtd.js";
import type { SecondLibvirtd } from "../helpers/second-libvirtd.js";
import { appliedLines, guestDone } from "./console.js";
import { DaemonHistory, pollStatus } from "./daemon-history.js";
import { checkHandoff } from "./handoff.js";
import { freshLabDomain } from "./domain.js";
import { labImages } from "./images.js";
import { removeLeftovers } from "./leftovers.js";

const run = promisify(execFile);
const STEP_S = 1;
const NAME = "lab-mig";
/** Host B's qemu user: only host B's daemon accepts its processes as VMs. */
const USER_B = "scaph-lab-b";
const GUEST_SECONDS = 120;
/** Lines the guest applies from a host before it moves on. */
const LINES_PER_STAY = 8;
/** Each host's whole power (package + dram), W: the destination's bounds what the guest may read after a move. */
const WATTS = { A: 30, B: 20 } as const;
type Host = keyof typeof WATTS;

let hostA: Libvirtd | null = null;
let hostB: SecondLibvirtd | null = null;
after(async () => {
  await hostB?.stop();
  await hostA?.stop();
});

/** `scaph-host status --json` on a host: its rows. */
async function statusRows(uri: string, base: string): Promise<{ domain: string; state: string; power_w: number | null; problems: string[] }[]> {
  const r = await runNode(hostBin, ["status", "--json", "-c", uri, "--base-dir", base]);
  return (JSON.parse(r.stdout) as { rows: { domain: string; state: string; power_w: number | null; problems: string[] }[] }).rows;
}

/**
 * What `scaph-host status` says of the domain now, by its own code run in
 * this process: during a move, a status process's start-up (a second on a
 * loaded machine) can outlast the moment the destination holds the guest paused.
 */
async function statusNow(uri: string, base: string): Promise<string> {
  const { collectStatus } = await import("@scaph/host/status");
  return (await collectStatus({ connect: uri, baseDir: base })).rows.find((r) => r.domain === NAME)?.state ?? "(no row)";
}

test("lab: live migrations A→B→A→B→A hand the guest's energy over exactly, with no spike and no manual step", { timeout: 400_000 }, async (t) => {
  requireRoot("it starts two libvirtds, one in a mount namespace of its own, and boots a guest");
  hostA = await ensureLibvirtd();
  // A killed run leaves its domain defined on host A: planted here, so that each run proves its removal.
  const stale = join(tmpdir(), `scaph-stale-${process.pid}.xml`);
  writeFileSync(stale, `<domain type='qemu'><name>${NAME}</name><memory unit='MiB'>16</memory><os><type arch='x86_64'>hvm</type></os></domain>`);
  quiet(() => virsh("define", stale));
  rmSync(stale);
  for (const l of removeLeftovers([NAME], virsh)) t.diagnostic(`leftover of an earlier run: ${l}`);
  assert.ok(!virsh("list", "--all", "--name").split("\n").includes(NAME), `${NAME} is still defined on host A`);
  const dir = await mkdtemp(join(tmpdir(), "scaph-lab-mig-"));
  chmodSync(dir, 0o777);
  hostB = await startSecondLibvirtd(join(dir, "host-b"), USER_B);
  const b = hostB;
  const { vmlinuz, initrd, type, about } = await labImages(dir);
  t.diagnostic(about);
  const uri: Record<Host, string> = { A: "qemu:///system", B: b.uri };
  const base: Record<Host, string> = { A: join(dir, "base-a"), B: join(dir, "base-b") };
  const powercap: Record<Host, string> = { A: await copyFixture("powercap/intel-1socket"), B: await copyFixture("powercap/intel-1socket") };
  const sims = (["A", "B"] as const).map(
    (h) =>
      new PowerSimulator({
        powercapRoot: powercap[h],
        zones: [
          { zone: "intel-rapl:0", watts: WATTS[h] - 4 },
          { zone: "intel-rapl:0:2", watts: 4 },
        ],
      }),
  );
  const consoleFile = join(dir, `${NAME}.console`);
  const args = (h: Host, vmUser: string): string[] => [
    hostBin,
    "-v",
    "qemu",
    "--auto-setup",
    "--domains",
    `^${NAME}$`,
    "--base-dir",
    base[h],
    "--step",
    String(STEP_S),
    "--powercap-path",
    powercap[h],
    "--vm-user",
    vmUser,
  ];
  const daemons: Background[] = [];
  const history: Record<Host, DaemonHistory> = { A: new DaemonHistory(NAME), B: new DaemonHistory(NAME) };
  const polls = (["A", "B"] as const).map((h) => pollStatus(base[h], history[h]));
  try {
    for (const s of sims) s.start();
    // Host A's daemon accepts libvirt-qemu (host A's qemu user), host B's only its own: it runs in host B's
    // namespace, where libvirt's paths (the channels' sockets, the pid files) are host B's.
    daemons.push(startBackground(process.execPath, args("A", "libvirt-qemu")));
    daemons.push(b.start(process.execPath, args("B", USER_B)));
    for (const [i, d] of daemons.entries()) {
      await waitFor(`daemon ${"AB"[i]} to subscribe to libvirt's events`, () => (d.output().includes("auto-setup: subscribed") ? true : null), 60_000);
    }
    const xml = freshLabDomain(dir, {
      name: NAME,
      image: { type, vmlinuz, initrd },
      consoleFile,
      memoryMiB: 512,
      devices: "<controller type='virtio-serial' index='0'/>",
      cmdline: `console=ttyS0 quiet panic=-1 scaph.transport=channel scaph.mode=busy scaph.seconds=${GUEST_SECONDS} scaph.step=${STEP_S}`,
    });
    // Host B's qemu (another user, files not relabelled) writes the same console file.
    writeFileSync(consoleFile, "");
    chmodSync(consoleFile, 0o666);
    // Defined on A: auto-setup puts the channel in its definition, which travels with it.
    virsh("define", xml);
    await waitFor(
      "auto-setup to add the channel to the definition",
      () => (virsh("dumpxml", "--inactive", NAME).includes("org.scaph.energy.0") ? true : null),
      30_000,
    );
    virsh("start", NAME);
    const applied = (epochs?: readonly string[]): Promise<number> => appliedLines(consoleFile, epochs);
    await waitFor("the guest's agent to apply lines from host A", async () => ((await applied()) >= LINES_PER_STAY ? true : null), 180_000);

    const moves: { from: Host; to: Host; endMs: number; startMs: number; sawIncomingStatus: string | null }[] = [];
    for (const [from, to] of [
      ["A", "B"],
      ["B", "A"],
      ["A", "B"],
      ["B", "A"],
    ] as const) {
      const port = await freePort();
      const startMs = Date.now();
      const migration = run("virsh", [
        "-c",
        uri[from],
        "migrate",
        "--live",
        "--persistent",
        "--undefinesource",
        NAME,
        uri[to],
        "--migrateuri",
        `tcp://127.0.0.1:${port}`,
      ]);
      let done = false;
      void migration.finally(() => (done = true)).catch(() => {});
      // While it moves: the destination's daemon sees its qemu, paused on its way in, and status says so.
      let sawIncomingStatus: string | null = null;
      while (!done) {
        // asked again while the daemon still says incoming: an answer that came after the guest ran here is not the one asked for
        if (sawIncomingStatus !== "incoming" && history[to].last?.incoming?.some((v) => v.name === NAME)) {
          const state = await statusNow(uri[to], base[to]);
          if (sawIncomingStatus === null || state === "incoming") sawIncomingStatus = state;
        }
        await sleep(100);
      }
      await migration;
      const endMs = Date.now();
      moves.push({ from, to, startMs, endMs, sawIncomingStatus });
      t.diagnostic(
        `${from}→${to}: ${((endMs - startMs) / 1000).toFixed(1)} s; the destination's daemon saw it on its way in for ${history[to].incomingSeen} status writes; status said ${sawIncomingStatus}`,
      );
      const sent = await waitFor(`host ${to}'s daemon to write to the moved guest's channel`, () => history[to].firstSentAfter(endMs), 60_000);
      const endStep = history[to].stepAt(endMs);
      t.diagnostic(
        `${from}→${to}: the destination's first line was seen sent in the status of its step ${sent.step}, the migration ended during step ${endStep + 1}`,
      );
      // libvirt's list at the step after the end says it runs here; the next step opens the epoch and
      // sends; the status written at the step after shows it sent.
      assert.ok(sent.step <= endStep + 3, `host ${to} first delivered at its step ${sent.step}, the migration ended after its step ${endStep}`);
      const rows = { from: await statusRows(uri[from], base[from]), to: await statusRows(uri[to], base[to]) };
      const row = rows.to.find((r) => r.domain === NAME);
      assert.equal(row?.state, "running (migrated in)", JSON.stringify(rows.to));
      assert.equal(
        rows.from.find((r) => r.domain === NAME),
        undefined,
        `gone from host ${from} (undefined there): ${JSON.stringify(rows.from)}`,
      );
      // The guest stays a while on each host: lines of the destination's new epoch applied.
      await waitFor(
        `the guest to apply lines from host ${to}`,
        async () => ((await applied(history[to].epochsSince(startMs))) >= LINES_PER_STAY ? true : null),
        60_000,
      );
    }
    const ev = await guestDone(NAME, consoleFile);
    for (const p of polls) await p.stop();

    // Every move was seen on its way in by the destination's daemon, and status said "incoming" then.
    for (const m of moves) assert.equal(m.sawIncomingStatus, "incoming", `${m.from}→${m.to}: status during the move`);

    checkHandoff(t, ev, history, moves, WATTS, STEP_S);
  } catch (err) {
    const logs = daemons.map((d, i) => `--- daemon ${"AB"[i]}:\n${d.output().slice(-3000)}`).join("\n");
    throw new Error(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n${logs}`);
  } finally {
    for (const p of polls) await p.stop();
    for (const d of daemons) await d.stop();
    for (const s of sims) await s.stop();
    quiet(() => virsh("destroy", NAME));
    quiet(() => virsh("undefine", NAME));
    quiet(() => b.virsh("destroy", NAME));
    quiet(() => b.virsh("undefine", NAME));
    for (const h of ["A", "B"] as const) await removeTree(powercap[h]);
    if (!process.env.SCAPH_LAB_KEEP) await rm(dir, { recursive: true, force: true });
  }
});
