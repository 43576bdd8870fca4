/**
 * --auto-setup against domains that are undefined as soon as they are
 * defined (OpenStack Nova's clean-up of a spawn that failed), with a real
 * libvirtd: none of them comes back. A sentinel domain defined after the
 * burst tells when the daemon has worked through every event before it
 * (its work is done one domain at a time, in the events' order).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, removeTree, requireRoot } from "@scaph/test-support";
import { hostBin } from "../helpers/cli.js";
import { ensureLibvirtd, quiet, virsh } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";
import { startBackground, waitFor } from "../helpers/processes.js";

const COUNT = 100;
const PREFIX = "scaph-race-";
let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

const xmlOf = (name: string): string =>
  `<domain type='qemu'><name>${name}</name><uuid>${randomUUID()}</uuid><memory unit='MiB'>16</memory><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>`;

test(`--auto-setup: ${COUNT} domains defined and at once undefined stay undefined`, async () => {
  requireRoot("it starts libvirtd");
  daemon = await ensureLibvirtd();
  const dir = await mkdtemp(join(tmpdir(), "scaph-race-"));
  await chmod(dir, 0o755);
  const powercap = await copyFixture("powercap/intel-1socket");
  const host = startBackground(process.execPath, [
    hostBin,
    "-v",
    "qemu",
    "--auto-setup",
    "--domains",
    `^${PREFIX}`,
    "--base-dir",
    join(dir, "base"),
    "--step",
    "0.5",
    "--powercap-path",
    powercap,
  ]);
  const ours = (): string[] =>
    virsh("list", "--all", "--name")
      .split("\n")
      .map((l) => l.trim())
      .filter((n) => n.startsWith(PREFIX));
  try {
    for (const n of ours()) quiet(() => virsh("undefine", n));
    await waitFor("the daemon to subscribe", () => (host.output().includes("auto-setup: subscribed") ? true : null), 20_000);
    // One virsh session for the whole burst: define, undefine, next, as fast as libvirtd takes them.
    const script: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      const file = join(dir, `${i}.xml`);
      await writeFile(file, xmlOf(`${PREFIX}${i}`));
      script.push(`define ${file}`, `undefine ${PREFIX}${i}`);
    }
    const { execFileSync } = await import("node:child_process");
    execFileSync("virsh", ["-c", "qemu:///system"], { input: script.join("\n") + "\n", stdio: ["pipe", "ignore", "pipe"] });
    // The sentinel: once it has the channel, every event before it has been worked through.
    const sentinel = `${PREFIX}sentinel`;
    const sentinelFile = join(dir, "sentinel.xml");
    await writeFile(sentinelFile, xmlOf(sentinel));
    virsh("define", sentinelFile);
    await waitFor("the sentinel to get the channel", () => (/org\.scaph\.energy\.0/.test(virsh("dumpxml", "--inactive", sentinel)) ? true : null), 120_000);
    const back = ours().filter((n) => n !== sentinel);
    assert.deepEqual(back, [], `domains brought back by auto-setup after they were undefined: ${back.length}`);
  } finally {
    await host.stop();
    for (const n of ours()) quiet(() => virsh("undefine", n));
    await removeTree(powercap);
    await rm(dir, { recursive: true, force: true });
  }
});
