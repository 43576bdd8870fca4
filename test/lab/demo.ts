/**
 * `npm run demo`: the whole path on any Linux machine. The host measures
 * (RAPL if readable, else the estimate sensor), a VM burns CPU (a real
 * qemu-system-x86_64 if installed, else a stand-in process with a qemu
 * command line), `scaph-host qemu` writes its tree into a temporary
 * directory, and `scaph-guest prometheus` reads that tree. Prints the guest's
 * metrics and URL until Ctrl-C (or DEMO_SECONDS), then cleans up.
 */
import { existsSync } from "node:fs";
import { access, constants, copyFile, link, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { guestBin, hostBin } from "../helpers/cli.js";
import { freePort, sleep, startBackground, startBusyQemu, waitFor, writeBusyBootSector } from "../helpers/processes.js";
import type { Background } from "../helpers/processes.js";
import { sample, scrape, startExporter } from "../helpers/scrape.js";

const VM = "demo-vm";

async function readable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function hasCommand(cmd: string): boolean {
  return (process.env.PATH ?? "").split(":").some((d) => existsSync(join(d, cmd)));
}

/**
 * A process that is a VM to discovery and burns a CPU: discovery trusts the
 * executable, not argv[0], so this runs node through a hard link (or, across
 * filesystems, a copy) named qemu-system-x86_64, with -name guest=...
 */
async function standInVm(dir: string): Promise<Background> {
  const exe = join(dir, "qemu-system-x86_64");
  await link(process.execPath, exe).catch(() => copyFile(process.execPath, exe));
  return startBackground(exe, ["-e", "for(;;){}", "--", "-name", `guest=${VM},debug-threads=on`], { ...process.env });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "scaph-demo-"));
  const children: Background[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of children.reverse()) await c.stop();
    await rm(dir, { recursive: true, force: true });
  };
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("\nstopping the demo and cleaning up...\n");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    const rapl = await readable("/sys/class/powercap/intel-rapl:0/energy_uj");
    const sensor = rapl ? [] : ["--sensor", "estimate"];
    process.stdout.write(`host sensor: ${rapl ? "RAPL (powercap_rapl)" : "no readable RAPL here: --sensor estimate"}\n`);
    let vm: Background;
    if (hasCommand("qemu-system-x86_64")) {
      const img = join(dir, "boot.img");
      await writeBusyBootSector(img);
      vm = startBusyQemu(VM, img);
      process.stdout.write(`VM: a real qemu-system-x86_64 named ${VM}, spinning in its boot sector (pid ${vm.child.pid})\n`);
    } else {
      vm = await standInVm(dir);
      process.stdout.write(`VM: qemu-system-x86_64 is not installed: a stand-in process named like a qemu VM, burning CPU (pid ${vm.child.pid})\n`);
    }
    children.push(vm);
    const base = join(dir, "trees");
    // The VM runs as whoever runs the demo: that user is the VM user here.
    const vmUser = ["--vm-user", String(process.getuid?.() ?? 0)];
    const host = startBackground(process.execPath, [hostBin, "-v", ...sensor, "qemu", "--no-libvirt", ...vmUser, "--base-dir", base, "--step", "1"]);
    children.push(host);
    const tree = join(base, VM);
    await waitFor(`the VM tree in ${tree}`, async () => ((await readable(join(tree, "intel-rapl:0", "energy_uj"))) ? true : null), 20_000);
    process.stdout.write(`host: scaph-host qemu writes ${tree}\n`);
    const port = Number(process.env.DEMO_PORT ?? (await freePort()));
    const guest = await startExporter([guestBin, "prometheus", "-a", "127.0.0.1", "-p", String(port), "--step", "1", "--powercap-path", tree]);
    children.push(guest.bg);
    process.stdout.write(`guest: scaph-guest prometheus reads that tree; metrics at ${guest.url}\n(Ctrl-C to stop)\n\n`);
    const end = process.env.DEMO_SECONDS ? Date.now() + Number(process.env.DEMO_SECONDS) * 1000 : Infinity;
    await sleep(1500);
    while (!stopping && Date.now() < end) {
      const body = await scrape(guest.url);
      if (sample(body, "scaph_self_last_step_timestamp_seconds") === null) {
        await sleep(300); // the guest's first step is not done yet
        continue;
      }
      const uw = sample(body, "scaph_host_power_microwatts") ?? 0;
      const j = sample(body, "scaph_host_energy_joules_total") ?? 0;
      process.stdout.write(
        `[guest ${VM}] host power ${(uw / 1e6).toFixed(3)} W (scaph_host_power_microwatts ${uw.toFixed(0)}), energy ${j.toFixed(3)} J (scaph_host_energy_joules_total)\n`,
      );
      for (const l of body.split("\n").filter((x) => /^scaph_(socket|domain)_power_microwatts/.test(x))) process.stdout.write(`    ${l}\n`);
      await sleep(3000);
    }
  } finally {
    await cleanup();
  }
}

await main();
