/**
 * The operator's guest path, end to end, in a real Debian 12 guest (Debian's
 * kernel, systemd, udev) booted through the lab's libvirtd: `apt install
 * ./scaph-guest_*.deb` inside it, a host daemon with --auto-setup
 * hot-plugs the channel, udev starts the packaged channel receiver in the
 * tmpfs of var-scaphandre.mount, and the packaged scaph-guest.service
 * serves the VM's power on its port; the guest reboots and all of it works
 * again. Nobody touches the guest by hand: its lab unit installs the .deb it
 * finds on a second disk and reports on the serial console.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin } from "../helpers/cli.js";
import { ensureLibvirtd, quiet, virsh } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";
import { cachedDebs, scaphVersion } from "../helpers/packages.js";
import { startBackground, waitFor } from "../helpers/processes.js";
import { domainType } from "./accel.js";
import { debianGuestImage, filesDisk } from "./debian-image.js";
import { freshLabDomain } from "./domain.js";
import { removeLeftovers } from "./leftovers.js";

const NAME = "lab-debian";
const WATTS = 40;

let daemon: Libvirtd | null = null;
after(async () => {
  quiet(() => virsh("destroy", NAME));
  await daemon?.stop();
});

interface Probe {
  boot: number;
  channel: string;
  exporter: string;
  mount: string;
  powerUw: number | null;
}

/** The lab unit's reports, from the console file. */
function probes(text: string): Probe[] {
  const out: Probe[] = [];
  for (const m of text.matchAll(/^LAB probe \d+ boot=(\d+) channel=(\S+) exporter=(\S+) mount=(\S+) power_uw=(\S+)/gm)) {
    out.push({ boot: Number(m[1]), channel: m[2] ?? "", exporter: m[3] ?? "", mount: m[4] ?? "", powerUw: m[5] === "none" ? null : Number(m[5]) });
  }
  return out;
}

test(
  "lab: a real Debian 12 guest installs scaph-guest's .deb; the channel is hot-plugged, udev starts the receiver, the exporter serves the VM's power, through a reboot",
  { timeout: 1_500_000 },
  async (t) => {
    requireRoot("it starts libvirtd and boots a guest through it");
    const image = debianGuestImage();
    t.diagnostic(image.about);
    const debs = await cachedDebs();
    daemon = await ensureLibvirtd();
    for (const l of removeLeftovers([NAME], virsh)) console.log(`# leftover of an earlier run: ${l}`);
    const { type, why } = await domainType();
    t.diagnostic(`the guest runs as type=${type}: ${why}`);
    const dir = await mkdtemp(join(tmpdir(), "scaph-lab-debian-"));
    chmodSync(dir, 0o777);
    // The guest writes its disk: a sparse copy of the cached image, which stays as built
    const disk = join(dir, "root.raw");
    execFileSync("cp", ["--sparse=always", image.root, disk]);
    const files = join(dir, "files.raw");
    filesDisk(files, join(dir, "files"), [join(debs, `scaph-guest_${scaphVersion}_amd64.deb`)]);
    const consoleFile = join(dir, "console.log");
    const base = join(dir, "trees");
    const powercap = await copyFixture("powercap/intel-1socket");
    const sim = new PowerSimulator({ powercapRoot: powercap, zones: [{ zone: "intel-rapl:0", watts: WATTS }] });
    sim.start();
    const host = startBackground(process.execPath, [
      hostBin,
      "-v",
      "qemu",
      "--auto-setup",
      "--domains",
      `^${NAME}$`,
      "--base-dir",
      base,
      "--step",
      "2",
      "--powercap-path",
      powercap,
    ]);
    const xml = freshLabDomain(dir, {
      name: NAME,
      image: { type, vmlinuz: image.vmlinuz, initrd: image.initrd },
      consoleFile,
      memoryMiB: 1024,
      onReboot: "restart",
      cmdline: "root=/dev/vda rw console=ttyS0 quiet",
      devices: `<controller type='virtio-serial' index='0'/>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${files}'/><target dev='vdb' bus='virtio'/><readonly/></disk>`,
    });
    const consoleText = async (): Promise<string> => readFile(consoleFile, "utf8").catch(() => "");
    const t0 = Date.now();
    const since = (): string => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
    try {
      await waitFor("the daemon to subscribe to libvirt's events", () => (host.output().includes("auto-setup: subscribed") ? true : null), 30_000);
      virsh("create", xml);
      await waitFor(
        "the daemon to hot-plug the channel",
        () => (/auto-setup: lab-debian: the channel org\.scaph\.energy\.0 hot-plugged/.test(host.output()) ? true : null),
        60_000,
      );
      await waitFor("the guest's lab unit to start", async () => (/^LAB boot 1$/m.test(await consoleText()) ? true : null), 600_000);
      t.diagnostic(`guest booted to its lab unit in ${since()}`);
      const installed = await waitFor(
        "apt install of the .deb inside the guest",
        async () => /^LAB installed (\d+)$/m.exec(await consoleText())?.[1] ?? null,
        300_000,
      );
      assert.equal(
        installed,
        "0",
        `apt-get install inside the guest failed:\n${(await consoleText())
          .split("\n")
          .filter((l) => l.startsWith("LAB install"))
          .join("\n")}`,
      );
      t.diagnostic(`scaph-guest installed in the guest at ${since()}`);

      // Boot 1: udev started the receiver (in its tmpfs), the exporter serves the VM's share
      const first = await waitFor(
        "the guest's exporter to serve power",
        async () => probes(await consoleText()).find((p) => p.boot === 1 && p.powerUw !== null && p.powerUw > 0) ?? null,
        300_000,
      );
      t.diagnostic(`the guest's exporter served ${((first.powerUw ?? 0) / 1e6).toFixed(2)} W at ${since()}`);
      assert.deepEqual([first.channel, first.exporter, first.mount], ["active", "active", "active"], "channel receiver, exporter and its tmpfs");
      assert.ok((first.powerUw ?? 0) <= WATTS * 1e6 * 1.05, `the VM's share ${first.powerUw} µW is within the host's ${WATTS} W`);

      // Boot 2: the guest rebooted itself (its lab unit does, once); nothing is set up again by hand
      await waitFor("the guest to reboot", async () => (/^LAB boot 2$/m.test(await consoleText()) ? true : null), 600_000);
      t.diagnostic(`guest rebooted at ${since()}`);
      const second = await waitFor(
        "power again after the reboot",
        async () => probes(await consoleText()).find((p) => p.boot === 2 && p.powerUw !== null && p.powerUw > 0) ?? null,
        300_000,
      );
      assert.deepEqual([second.channel, second.exporter, second.mount], ["active", "active", "active"]);
      t.diagnostic(`after the reboot, ${((second.powerUw ?? 0) / 1e6).toFixed(2)} W at ${since()}`);
      assert.equal((host.output().match(/hot-plugged/g) ?? []).length, 1, "the channel stays through a guest reboot: one hot-plug");
    } catch (err) {
      const text = await consoleText();
      throw new Error(
        `${(err as Error).message}\nthe guest's console (end):\n${text.split("\n").slice(-40).join("\n")}\nthe daemon:\n${host.output().slice(-3000)}`,
      );
    } finally {
      quiet(() => virsh("destroy", NAME));
      await host.stop();
      await sim.stop();
      await removeTree(powercap);
      await rm(dir, { recursive: true, force: true });
    }
  },
);
