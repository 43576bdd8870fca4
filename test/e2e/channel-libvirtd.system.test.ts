/**
 * The channel transport against a real libvirtd and qemu: setup hot-plugs the
 * channel into a running domain, the daemon finds its socket in the live XML
 * and writes to it within a few steps, a save/restore (qemu's migration
 * stream) keeps the channel and the daemon reconnects, teardown unplugs it.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin, runNode } from "../helpers/cli.js";
import { ensureLibvirtd, quiet, virsh } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";
import { startBackground, waitFor, writeBusyBootSector } from "../helpers/processes.js";
import { domainType } from "../lab/accel.js";

const NAME = "scaph-channel-e2e";
let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

interface Status {
  steps: number;
  vms: { name: string; channel?: { connected: boolean; sent: number; dropped: number; epoch: string; seq: number; path: string } }[];
}

test("a real libvirtd: the channel hot-plugged into a running VM, written within steps, kept across save/restore, unplugged", async (t) => {
  requireRoot("it starts libvirtd and VMs");
  daemon = await ensureLibvirtd();
  const dir = await mkdtemp(join(tmpdir(), "scaph-chan-lvd-"));
  await chmod(dir, 0o755);
  const img = join(dir, "boot.img");
  await writeBusyBootSector(img);
  const { type } = await domainType();
  // A virtio-serial controller, as any domain with a guest agent channel has: a channel can be hot-plugged then.
  await writeFile(
    join(dir, "dom.xml"),
    `<domain type='${type}'><name>${NAME}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
    <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><features><acpi/></features>
    <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${img}'/><target dev='hda' bus='ide'/></disk>
    <controller type='virtio-serial' index='0'/></devices></domain>`,
  );
  for (const c of ["destroy", "undefine"]) quiet(() => virsh(c, NAME));
  virsh("define", join(dir, "dom.xml"));
  const base = join(dir, "base");
  const powercap = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({ powercapRoot: powercap, zones: [{ zone: "intel-rapl:0", watts: 30 }] });
  sim.start();
  const host = startBackground(process.execPath, [hostBin, "-v", "qemu", "--base-dir", base, "--step", "0.5", "--powercap-path", powercap]);
  const status = async (): Promise<Status | null> => JSON.parse(await readFile(join(base, ".scaph-status.json"), "utf8").catch(() => "null")) as Status | null;
  const channelOf = async () => (await status())?.vms.find((v) => v.name === NAME)?.channel ?? null;
  try {
    virsh("start", NAME);
    await waitFor("the daemon to see the VM", async () => ((await status())?.vms.some((v) => v.name === NAME) ? true : null), 30_000);
    assert.equal(await channelOf(), null, "no channel yet");

    const s = await runNode(hostBin, ["setup", NAME, "--transport", "channel", "--live"]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /hot-plug the channel org\.scaph\.energy\.0 into running/);
    assert.doesNotMatch(s.stdout, /restart/);
    assert.match(virsh("dumpxml", NAME), /<source mode='bind' path='[^']*\/org\.scaph\.energy\.0'\/>\s*<target type='virtio' name='org\.scaph\.energy\.0'/);
    assert.match(virsh("dumpxml", "--inactive", NAME), /name='org\.scaph\.energy\.0'/);
    // Within a few of the daemon's steps of the hot-plug it has the socket from the live XML and writes to it:
    // the socket appears in libvirt's channel directory, the next list reads the live XML, the step after
    // connects and writes, and its status says so. Counted in steps (a busy machine stretches seconds).
    const t0 = Date.now();
    const step0 = (await status())?.steps ?? 0;
    const { ch, step } = await waitFor(
      "the daemon to write to the channel",
      async () => {
        const s = await status();
        const c = s?.vms.find((v) => v.name === NAME)?.channel;
        return s && c && c.connected && c.sent > 0 ? { ch: c, step: s.steps } : null;
      },
      30_000,
    );
    t.diagnostic(`the first line ${step - step0} steps (${((Date.now() - t0) / 1000).toFixed(1)} s) after the hot-plug`);
    assert.ok(step - step0 <= 6, `the first line ${step - step0} steps after the hot-plug`);
    assert.match(ch.path, /domain-\d+-.*\/org\.scaph\.energy\.0$/);

    const st = await runNode(hostBin, ["status", "--json", "--base-dir", base]);
    const row = (
      JSON.parse(st.stdout) as { rows: { domain: string; transport: string; live_transport: string; channel: { connected: boolean }; problems: string[] }[] }
    ).rows.find((r) => r.domain === NAME);
    assert.equal(row?.transport, "channel");
    assert.equal(row?.live_transport, "channel");
    assert.equal(row?.channel.connected, true);
    assert.deepEqual(row?.problems, []);

    // save + restore go through qemu's migration stream: the channel does not block it, and the restored VM
    // (a new qemu, a new domain id, a new socket; libvirt's running reason `restored`) is written to again in the
    // same epoch: the guest, whose memory went back to the save, has that epoch's state, and the lines sent while
    // it was being saved (lost with the old qemu) lose nothing.
    const saved = join(dir, "saved.img");
    virsh("save", NAME, saved);
    virsh("restore", saved);
    const again = await waitFor(
      "the daemon to reconnect after the restore",
      async () => {
        const c = await channelOf();
        return c && c.connected && c.path !== ch.path ? c : null;
      },
      20_000,
    );
    assert.equal(again.epoch, ch.epoch, "the restored VM's epoch continues");
    assert.ok(again.seq > ch.seq, `its lines go on from seq ${ch.seq} to ${again.seq}`);
    assert.match(host.output(), new RegExp(`channel: VM ${NAME}: restored from a save: epoch ${ch.epoch} continues`));

    const td = await runNode(hostBin, ["teardown", NAME]);
    assert.equal(td.code, 0, td.stderr);
    assert.doesNotMatch(virsh("dumpxml", NAME), /org\.scaph\.energy\.0/, "unplugged from the running VM");
    assert.doesNotMatch(virsh("dumpxml", "--inactive", NAME), /org\.scaph\.energy\.0/);
  } finally {
    await host.stop();
    await sim.stop();
    quiet(() => virsh("destroy", NAME));
    quiet(() => virsh("undefine", NAME));
    await removeTree(powercap);
    await rm(dir, { recursive: true, force: true });
  }
});
