/**
 * A real Debian 12 guest for the operator's path (debian-guest.system.test.ts):
 * Debian's kernel, systemd and udev, built by mmdebstrap and cached as a
 * raw ext4 image with its kernel and initramfs beside it. Inside, one lab
 * unit (`scaph-lab.service`): at boot it installs the .deb it finds on a
 * second disk with apt, then reports on the serial console, every 2 s, what
 * the services do and what the exporter serves on its port, and reboots the
 * guest once after its first reports with power.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LAB_CACHE } from "./images.js";
import { requireCommand } from "@scaph/test-support";

/** What the guest holds besides minbase. */
const INCLUDE = ["systemd", "systemd-sysv", "udev", "dbus", "kmod", "linux-image-amd64", "initramfs-tools", "curl", "procps"];

/** The lab's script inside the guest: prints `LAB ...` lines on the serial console. */
export const LAB_SCRIPT = `#!/bin/sh
# scaph's lab (test/lab/debian-guest.system.test.ts): install the .deb from the second disk, then report.
say() { echo "LAB $*" > /dev/ttyS0; }
mkdir -p /var/lib/scaph-lab
n=$(( $(cat /var/lib/scaph-lab/boots 2>/dev/null || echo 0) + 1 ))
echo $n > /var/lib/scaph-lab/boots
say "boot $n"
if [ -b /dev/vdb ] && ! dpkg -s scaph-guest >/dev/null 2>&1; then
  mkdir -p /mnt/lab && mount -o ro /dev/vdb /mnt/lab
  apt-get install -y --no-install-recommends /mnt/lab/*.deb > /var/lib/scaph-lab/install.log 2>&1
  say "installed $?"
  tail -5 /var/lib/scaph-lab/install.log | sed 's/^/LAB install: /' > /dev/ttyS0
fi
i=0; seen=0
while true; do
  i=$((i + 1))
  p=$(curl -s --max-time 2 http://127.0.0.1:8080/metrics | grep '^scaph_host_power_microwatts' | head -1)
  w=\${p##* }
  say "probe $i boot=$n channel=$(systemctl is-active scaph-guest-channel.service) exporter=$(systemctl is-active scaph-guest.service) mount=$(systemctl is-active var-scaphandre.mount) power_uw=\${w:-none}"
  if [ -n "$w" ]; then seen=$((seen + 1)); fi
  if [ "$n" = 1 ] && [ "$seen" -ge 3 ]; then say "rebooting"; systemctl reboot; sleep 60; fi
  sleep 2
done
`;

const LAB_UNIT = `[Unit]
Description=scaph's lab: install the .deb from the second disk, report on the console
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/scaph-lab

[Install]
WantedBy=multi-user.target
`;

export interface DebianGuestImage {
  /** The root filesystem, raw ext4 (never booted: each test boots a qcow2 overlay of it). */
  root: string;
  vmlinuz: string;
  initrd: string;
  about: string;
}

/** The cached image, built on first use (a few minutes: mmdebstrap with a kernel and its initramfs). */
export function debianGuestImage(): DebianGuestImage {
  const key = createHash("sha256")
    .update(`bookworm ${INCLUDE.join(",")}\n${LAB_SCRIPT}\n${LAB_UNIT}`)
    .digest("hex")
    .slice(0, 12);
  const dir = join(LAB_CACHE, `debian-guest-${key}`);
  const found = (): DebianGuestImage | null => {
    if (!existsSync(join(dir, "root.raw"))) return null;
    const files = readdirSync(dir);
    const vmlinuz = files.find((f) => f.startsWith("vmlinuz-"));
    const initrd = files.find((f) => f.startsWith("initrd.img-"));
    return vmlinuz && initrd ? { root: join(dir, "root.raw"), vmlinuz: join(dir, vmlinuz), initrd: join(dir, initrd), about: "" } : null;
  };
  const cached = found();
  if (cached) return { ...cached, about: `Debian 12 guest image from the cache (${dir})` };
  const mm = requireCommand("mmdebstrap", "mmdebstrap");
  requireCommand("mkfs.ext4", "e2fsprogs");
  const t0 = Date.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const tree = join(tmp, "tree");
  writeFileSync(join(tmp, "scaph-lab"), LAB_SCRIPT, { mode: 0o755 });
  writeFileSync(join(tmp, "scaph-lab.service"), LAB_UNIT);
  const hooks = [
    `echo scaph-lab-guest > "$1/etc/hostname"`,
    `echo 'LABEL=root / ext4 rw,errors=remount-ro 0 1' > "$1/etc/fstab"`,
    `install -m 0755 ${tmp}/scaph-lab "$1/usr/local/sbin/scaph-lab"`,
    `install -m 0644 ${tmp}/scaph-lab.service "$1/etc/systemd/system/scaph-lab.service"`,
    `mkdir -p "$1/etc/systemd/system/multi-user.target.wants"`,
    `ln -s /etc/systemd/system/scaph-lab.service "$1/etc/systemd/system/multi-user.target.wants/scaph-lab.service"`,
    // no getty fighting the lab's lines on the console
    `ln -sf /dev/null "$1/etc/systemd/system/serial-getty@ttyS0.service"`,
  ];
  const r = spawnSync(mm, ["--variant=minbase", `--include=${INCLUDE.join(",")}`, ...hooks.map((h) => `--customize-hook=${h}`), "bookworm", tree], {
    encoding: "utf8",
    timeout: 1_200_000,
  });
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`mmdebstrap failed (it needs Debian's mirror, as apt-get does): ${(r.stderr ?? "").split("\n").slice(-15).join("\n")}`);
  }
  const boot = readdirSync(join(tree, "boot"));
  for (const f of boot.filter((f) => f.startsWith("vmlinuz-") || f.startsWith("initrd.img-"))) renameSync(join(tree, "boot", f), join(tmp, f));
  const fs = spawnSync("mkfs.ext4", ["-q", "-F", "-L", "root", "-d", tree, join(tmp, "root.raw"), "3G"], { encoding: "utf8" });
  if (fs.status !== 0) throw new Error(`mkfs.ext4 -d failed: ${fs.stderr}`);
  rmSync(tree, { recursive: true, force: true });
  renameSync(tmp, dir);
  const built = found();
  if (!built) throw new Error(`the guest image in ${dir} has no kernel or initramfs`);
  return { ...built, about: `Debian 12 guest image built in ${((Date.now() - t0) / 1000).toFixed(0)} s (${dir})` };
}

/** A small ext4 image holding `files` (the .deb the lab unit installs), for the guest's second disk. */
export function filesDisk(out: string, staging: string, files: readonly string[]): void {
  mkdirSync(staging, { recursive: true });
  for (const f of files) spawnSync("cp", [f, staging]);
  const r = spawnSync("mkfs.ext4", ["-q", "-F", "-d", staging, out, "128M"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mkfs.ext4 -d failed: ${r.stderr}`);
}
