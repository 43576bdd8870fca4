/**
 * scaph-host qemu --auto-setup against a real libvirtd: domains defined and
 * started after the daemon get the channel with no manual step (in the
 * persistent XML when defined, hot-plugged when started without it), a
 * redefinition that drops it (as Nova's) gets it back, a domain outside
 * --domains is left alone, and the daemon writes to each channel.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin } from "../helpers/cli.js";
import { ensureLibvirtd, quiet, virsh } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";
import { startBackground, waitFor, writeBusyBootSector } from "../helpers/processes.js";
import { domainType } from "../lab/accel.js";

const NAMES = { defined: "scaph-auto-defined", created: "scaph-auto-created", other: "scaph-other-e2e", barrier: "scaph-auto-barrier" };
let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

const CHANNEL = /name='org\.scaph\.energy\.0'/;

interface Status {
  vms: { name: string; channel?: { connected: boolean; sent: number } }[];
}

test("--auto-setup: domains defined and started after the daemon get the channel, without a manual step", async () => {
  requireRoot("it starts libvirtd and VMs");
  daemon = await ensureLibvirtd();
  const dir = await mkdtemp(join(tmpdir(), "scaph-auto-"));
  await chmod(dir, 0o755);
  const { type } = await domainType();
  for (const n of Object.values(NAMES)) await writeBusyBootSector(join(dir, `${n}.img`)); // one each: qemu locks its disk
  const uuids = new Map(Object.values(NAMES).map((n) => [n, randomUUID()]));
  const xmlOf = (
    name: string,
    serial: boolean,
  ): string => `<domain type='${type}'><name>${name}</name><uuid>${uuids.get(name)}</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
    <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><features><acpi/></features>
    <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${join(dir, `${name}.img`)}'/><target dev='hda' bus='ide'/></disk>
    ${serial ? "<controller type='virtio-serial' index='0'/>" : ""}</devices></domain>`;
  for (const n of Object.values(NAMES)) for (const c of ["destroy", "undefine"]) quiet(() => virsh(c, n));
  const base = join(dir, "base");
  const powercap = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({ powercapRoot: powercap, zones: [{ zone: "intel-rapl:0", watts: 30 }] });
  sim.start();
  const host = startBackground(process.execPath, [
    hostBin,
    "-v",
    "qemu",
    "--auto-setup",
    "--domains",
    "^scaph-auto-",
    "--base-dir",
    base,
    "--step",
    "0.5",
    "--powercap-path",
    powercap,
  ]);
  const status = async (): Promise<Status | null> => JSON.parse(await readFile(join(base, ".scaph-status.json"), "utf8").catch(() => "null")) as Status | null;
  const connected = (name: string) =>
    waitFor(
      `the daemon to write to ${name}'s channel`,
      async () => {
        const c = (await status())?.vms.find((v) => v.name === name)?.channel;
        return c?.connected && c.sent > 0 ? c : null;
      },
      30_000,
    );
  try {
    await waitFor("the daemon to subscribe", () => (host.output().includes("auto-setup: subscribed") ? true : null), 20_000);

    // 1. defined after the daemon: the channel is in its persistent XML at once; started, it has it natively
    const defXml = join(dir, "defined.xml");
    await writeFile(defXml, xmlOf(NAMES.defined, false));
    virsh("define", defXml);
    await waitFor("the channel in the persistent XML", () => (CHANNEL.test(virsh("dumpxml", "--inactive", NAMES.defined)) ? true : null), 15_000);
    virsh("start", NAMES.defined);
    assert.match(virsh("dumpxml", NAMES.defined), CHANNEL);
    await connected(NAMES.defined);

    // 2. created (transient, no persistent XML to edit) with a virtio-serial controller: hot-plugged when it starts
    const crXml = join(dir, "created.xml");
    await writeFile(crXml, xmlOf(NAMES.created, true));
    virsh("create", crXml);
    await waitFor("the channel hot-plugged", () => (CHANNEL.test(virsh("dumpxml", NAMES.created)) ? true : null), 15_000);
    assert.match(virsh("dominfo", NAMES.created), /Persistent:\s+no/, "still transient: auto-setup defines no domain of its own");
    await connected(NAMES.created);

    // 3. the XML written anew without the channel (as Nova does): the channel comes back
    virsh("define", defXml);
    await waitFor("the channel back in the persistent XML", () => (CHANNEL.test(virsh("dumpxml", "--inactive", NAMES.defined)) ? true : null), 15_000);

    // 4. a domain --domains does not match: left alone
    const otherXml = join(dir, "other.xml");
    await writeFile(otherXml, xmlOf(NAMES.other, true));
    virsh("define", otherXml);
    virsh("start", NAMES.other);
    // a barrier on state, not a pause: libvirt delivers events in order, and the daemon handles them in order, so
    // once a domain defined after that one has its channel, the other's events have been seen (and left alone)
    const barrierXml = join(dir, "barrier.xml");
    await writeFile(barrierXml, xmlOf(NAMES.barrier, false));
    virsh("define", barrierXml);
    await waitFor("the channel in a domain defined after it", () => (CHANNEL.test(virsh("dumpxml", "--inactive", NAMES.barrier)) ? true : null), 15_000);
    assert.doesNotMatch(virsh("dumpxml", NAMES.other), CHANNEL);
    assert.doesNotMatch(virsh("dumpxml", "--inactive", NAMES.other), CHANNEL);
    assert.match(host.output(), new RegExp(`auto-setup: ${NAMES.created}: the channel org\\.scaph\\.energy\\.0 hot-plugged`));
  } finally {
    await host.stop();
    await sim.stop();
    for (const n of Object.values(NAMES)) for (const c of ["destroy", "undefine"]) quiet(() => virsh(c, n));
    await removeTree(powercap);
    await rm(dir, { recursive: true, force: true });
  }
});
