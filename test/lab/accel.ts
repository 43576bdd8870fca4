/**
 * Which accelerator the lab's guests can use. KVM only where the CPU shows
 * vmx/svm AND a KVM guest really runs: under nested PVM a KVM guest hangs
 * silently, so a 512-byte guest that prints one byte to its serial port is
 * booted first, with a deadline.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireCommand } from "@scaph/test-support";

/** A boot sector that writes "K" to COM1 (0x3f8), then halts forever. */
export function serialBootSector(): Buffer {
  const b = Buffer.alloc(512);
  // mov dx,0x3f8; mov al,'K'; out dx,al; cli; hlt; jmp $-1
  Buffer.from([0xba, 0xf8, 0x03, 0xb0, 0x4b, 0xee, 0xfa, 0xf4, 0xeb, 0xfd]).copy(b);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** Whether a guest booting `sector` under `accel` prints "K" to its serial port within `timeoutMs`; qemu is killed either way. */
export async function guestBoots(accel: "kvm" | "tcg", timeoutMs = 10_000, sector: Buffer = serialBootSector()): Promise<boolean> {
  const qemu = requireCommand("qemu-system-x86_64", "qemu-system-x86");
  const dir = await mkdtemp(join(tmpdir(), "scaph-accel-"));
  try {
    const image = join(dir, "boot.img");
    const serial = join(dir, "serial.out");
    await writeFile(image, sector);
    const child = spawn(
      qemu,
      [
        "-machine",
        "pc",
        "-accel",
        accel,
        "-display",
        "none",
        "-nodefaults",
        "-m",
        "16",
        "-no-reboot",
        "-serial",
        `file:${serial}`,
        "-drive",
        `file=${image},format=raw,if=ide`,
      ],
      { stdio: "ignore" },
    );
    const exited = new Promise<void>((r) => child.on("exit", () => r()));
    const end = Date.now() + timeoutMs;
    let ok = false;
    while (!ok && Date.now() < end && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 100));
      ok = (await readFile(serial, "latin1").catch(() => "")).includes("K");
    }
    child.kill("SIGKILL");
    await exited;
    return ok;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What domainType looks at; the tests give their own. */
export interface AccelProbe {
  cpuinfo(): Promise<string>;
  kvmGuestBoots(): Promise<boolean>;
}

const realProbe: AccelProbe = {
  cpuinfo: () => readFile("/proc/cpuinfo", "utf8"),
  kvmGuestBoots: () => guestBoots("kvm"),
};

/** `kvm` where the CPU shows vmx/svm and a KVM guest boots; else `qemu` (TCG), with the reason. */
export async function domainType(probe: AccelProbe = realProbe): Promise<{ type: "kvm" | "qemu"; why: string }> {
  if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(await probe.cpuinfo())) return { type: "qemu", why: "the CPU shows no vmx/svm" };
  if (await probe.kvmGuestBoots()) return { type: "kvm", why: "a KVM guest booted" };
  return { type: "qemu", why: "the CPU shows vmx/svm but a KVM guest did not print within 10 s (nested PVM?)" };
}
