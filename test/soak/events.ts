/**
 * The soak's events, run on the hosts and guests of lab.ts: daemons killed or
 * stopped, a CPU burner, a full state dir, migrations (one aborted midway),
 * resets, save/restore, managed save, suspend/resume, and the channel
 * unplugged and plugged back.
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PowerSimulator } from "@scaph/test-support";
import { freePort, sleep, waitFor } from "../helpers/processes.js";
import type { Background } from "../helpers/processes.js";
import type { GuestConsole } from "./guest-console.js";
import type { Planned } from "./schedule.js";

/** The two hosts' names. */
export type Host = "A" | "B";

/** scaph's channel as the soak's domains have it (bind mode: libvirt names the socket). */
export const CHANNEL = "<channel type='unix'><source mode='bind'/><target type='virtio' name='org.scaph.energy.0'/></channel>";

export /** One host: its libvirt, its daemon (restarted at will), its simulated power and its base dir (a small tmpfs). */
interface SoakHost {
  name: Host;
  uri: string;
  base: string;
  powercap: string;
  sim: PowerSimulator;
  vmUser: string;
  daemon: Background | null;
  /** The output of each daemon started on this host (a restart starts another): the lines they sent, at debug level. */
  outputs: (() => string)[];
  virsh(...args: string[]): Promise<string>;
  startDaemon(): Background;
}

/** Stops a host's daemon with `signal` and starts it again, until it has subscribed to libvirt's events. */
export async function restartDaemon(h: SoakHost, signal: NodeJS.Signals): Promise<void> {
  await h.daemon?.stop(signal);
  h.daemon = h.startDaemon();
  const d = h.daemon;
  h.outputs.push(() => d.output());
  await waitFor(`daemon ${h.name} to subscribe again`, () => (h.daemon?.output().includes("auto-setup: subscribed") ? true : null), 60_000);
}

/** Runs one event to its end. */
export async function perform(
  e: Planned,
  hosts: Record<Host, SoakHost>,
  where: Map<string, Host>,
  consoles: Map<string, GuestConsole>,
  say: (l: string) => void,
): Promise<void> {
  if (e.type === "daemon-kill") return restartDaemon(hosts[e.target as Host], "SIGKILL");
  if (e.type === "daemon-term") return restartDaemon(hosts[e.target as Host], "SIGTERM");
  if (e.type === "burner") {
    // beside the other events: 20 s of one busy CPU, not waited for
    const burner: ChildProcess = spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" });
    setTimeout(() => burner.kill("SIGKILL"), 20_000).unref();
    return;
  }
  if (e.type === "state-full") {
    const filler = join(hosts[e.target as Host].base, "filler");
    spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=64k"], { stdio: "ignore" });
    await sleep(10_000);
    rmSync(filler, { force: true });
    return;
  }
  const vm = e.target;
  const h = hosts[where.get(vm) ?? "A"];
  const other = hosts[h.name === "A" ? "B" : "A"];
  if (e.type === "migrate" || e.type === "migrate-abort") {
    const port = await freePort();
    const move = h.virsh("migrate", "--live", "--persistent", "--undefinesource", vm, other.uri, "--migrateuri", `tcp://127.0.0.1:${port}`);
    if (e.type === "migrate") {
      await move;
      where.set(vm, other.name);
      return;
    }
    await sleep(700);
    await h.virsh("domjobabort", vm).catch((err: unknown) => say(`domjobabort: ${String(err).split("\n")[0]}`));
    const outcome = await move.then(
      () => "moved",
      () => "aborted",
    );
    if (outcome === "moved") where.set(vm, other.name); // it ended before the abort
    return;
  }
  if (e.type === "reboot") {
    consoles.get(vm)?.reset(Date.now());
    await h.virsh("reset", vm);
    return;
  }
  if (e.type === "save-restore") {
    const file = join(tmpdir(), `scaph-soak-${vm}.save`);
    try {
      await h.virsh("save", vm, file);
      await h.virsh("restore", file);
    } finally {
      rmSync(file, { force: true });
    }
    return;
  }
  if (e.type === "managedsave-start") {
    await h.virsh("managedsave", vm);
    await h.virsh("start", vm);
    return;
  }
  if (e.type === "suspend-resume") {
    await h.virsh("suspend", vm);
    await sleep(3000);
    await h.virsh("resume", vm);
    return;
  }
  if (e.type === "unplug-plug") {
    const xml = join(tmpdir(), `scaph-soak-${vm}-channel.xml`);
    // detached as the live XML has it (libvirt matches the whole device, its socket's path too), attached back as new
    const live = /<channel type='unix'>(?:(?!<\/channel>)[\s\S])*?org\.scaph\.energy\.0[\s\S]*?<\/channel>/.exec(await h.virsh("dumpxml", vm))?.[0];
    if (!live) throw new Error(`${vm} has no channel to unplug`);
    writeFileSync(xml, live);
    try {
      await h.virsh("detach-device", vm, xml, "--live");
      writeFileSync(xml, CHANNEL);
      await sleep(3000);
      await h.virsh("attach-device", vm, xml, "--live");
    } finally {
      rmSync(xml, { force: true });
    }
  }
}
