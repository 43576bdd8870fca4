/**
 * Ten domains started one after another through libvirtd under a running
 * daemon (`npm run test:lab`): each qemu is libvirt's child, `libvirtd` for
 * a moment before it execs qemu, and a step that reads it then must not
 * miss it for good. Every one is found and gets its energy.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin } from "../helpers/cli.js";
import { ensureLibvirtd, quiet, virsh } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";
import { sleep, startBackground, waitFor, writeBusyBootSector } from "../helpers/processes.js";
import type { DaemonStatusFile } from "./daemon-history.js";
import { removeLeftovers } from "./leftovers.js";

const run = promisify(execFile);
const COUNT = 10;
const STEP_S = 0.5;
const names = Array.from({ length: COUNT }, (_, i) => `lab-start-${i}`);

let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

/** A domain that spins its one vCPU (a boot sector that loops), 16 MiB, no devices but its disk. */
const domainXml = (name: string, disk: string): string => `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>16</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
  </devices>
</domain>
`;

test("lab: ten domains started one after another under a running daemon all get their energy", { timeout: 300_000 }, async (t) => {
  requireRoot("it starts libvirtd and domains through it");
  daemon = await ensureLibvirtd();
  for (const l of removeLeftovers(names, virsh)) console.log(`# leftover of an earlier run: ${l}`);
  const dir = await mkdtemp(join(tmpdir(), "scaph-lab-starts-"));
  chmodSync(dir, 0o777);
  const base = join(dir, "base");
  const powercap = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({
    powercapRoot: powercap,
    zones: [
      { zone: "intel-rapl:0", watts: 30 },
      { zone: "intel-rapl:0:2", watts: 4 },
    ],
  });
  sim.start();
  const host = startBackground(process.execPath, [hostBin, "-v", "qemu", "--base-dir", base, "--step", String(STEP_S), "--powercap-path", powercap]);
  const status = async (): Promise<DaemonStatusFile | null> =>
    JSON.parse(await readFile(join(base, ".scaph-status.json"), "utf8").catch(() => "null")) as DaemonStatusFile | null;
  try {
    await waitFor("the daemon's first step", async () => ((await status()) ? true : null), 30_000);
    for (const n of names) quiet(() => virsh("destroy", n));
    // Each gets its energy: found as a VM, with power, at some step (the status is watched while they start).
    const foundAt: Record<string, number> = {};
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const s = await status();
        for (const v of s?.vms ?? []) if (names.includes(v.name) && v.power_uw > 0) foundAt[v.name] ??= s!.steps;
        await sleep(50);
      }
    })();
    const started: Record<string, number> = {};
    for (const n of names) {
      const disk = join(dir, `${n}.img`);
      await writeBusyBootSector(disk);
      const xml = join(dir, `${n}.xml`);
      writeFileSync(xml, domainXml(n, disk));
      await run("virsh", ["-c", "qemu:///system", "create", xml]); // not execFileSync: the status watch goes on meanwhile
      started[n] = (await status())?.steps ?? 0;
    }
    await waitFor(`all ${COUNT} domains in the daemon's status`, () => (Object.keys(foundAt).length === COUNT ? true : null), 120_000).catch(
      async (err: unknown) => {
        // said at the end of the wait, not at its start: which ones never got a share, what the daemon's status and log say now
        const missing = names.filter((n) => foundAt[n] === undefined);
        const s = await status();
        const rows = (s?.vms ?? []).map((v) => `${v.name} ${v.power_uw} µW`).join(", ");
        throw new Error(
          `${String(err)}: missing ${missing.join(", ")}; status at step ${s?.steps}: ${rows}; incoming: ${JSON.stringify(s?.incoming ?? [])}\n--- log:\n${host.output().slice(-4000)}`,
        );
      },
    );
    watching = false;
    await watch;
    const delays = names.map((n) => (foundAt[n] ?? NaN) - (started[n] ?? NaN));
    t.diagnostic(`steps from each start to its first share: ${delays.join(", ")}`);
    assert.deepEqual(Object.keys(foundAt).sort(), [...names].sort());
    // libvirt's list at the step after a start names it, the next step gives it its share (a step more if the
    // list was asked while qemu was still starting).
    for (const [i, d] of delays.entries()) assert.ok(d <= 4, `${names[i]} got its first share ${d} steps after its start`);
  } finally {
    await host.stop();
    await sim.stop();
    for (const n of names) quiet(() => virsh("destroy", n));
    await removeTree(powercap);
    await rm(dir, { recursive: true, force: true });
  }
});
