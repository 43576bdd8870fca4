/**
 * Discovery that an exec cannot fool: a process the daemon first sees as
 * something else (libvirt's child is `libvirtd` for up to ~140 ms before it
 * execs qemu; a Proxmox wrapper is `sh`) and that then execs qemu, with the
 * same pid and start time, is found at the daemon's next step. Real
 * processes in the real /proc, a real qemu-system-x86_64 (stopped with -S).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, removeTree, requireCommand, requireRoot } from "@scaph/test-support";
import { hostBin } from "../helpers/cli.js";
import { startBackground, waitFor } from "../helpers/processes.js";
import type { Background } from "../helpers/processes.js";

const started: Background[] = [];
after(async () => {
  for (const b of started) await b.stop("SIGKILL");
});

interface Status {
  steps: number;
  vms: { name: string }[];
}

async function status(base: string): Promise<Status | null> {
  try {
    return JSON.parse(await readFile(join(base, ".scaph-status.json"), "utf8")) as Status;
  } catch {
    return null;
  }
}

/** The daemon's step count once it is at least `n`. */
const stepAtLeast = (base: string, n: number): Promise<number> =>
  waitFor(
    `the daemon's step ${n}`,
    async () => {
      const s = await status(base);
      return s && s.steps >= n ? s.steps : null;
    },
    60_000,
  );

test("a process first seen before its exec (as libvirtd, as sh, as a Proxmox wrapper) is found as a VM at the next step", async (t) => {
  requireRoot("it runs qemu processes as root, which the daemon accepts as VMs");
  const qemu = requireCommand("qemu-system-x86_64", "qemu-system-x86");
  const bash = requireCommand("bash", "bash");
  const dir = await mkdtemp(join(tmpdir(), "scaph-exec-"));
  const base = join(dir, "base");
  const powercap = await copyFixture("powercap/intel-1socket");
  const daemon = startBackground(process.execPath, [hostBin, "-v", "qemu", "--no-libvirt", "--base-dir", base, "--step", "0.5", "--powercap-path", powercap]);
  started.push(daemon);
  try {
    await stepAtLeast(base, 1);
    const qemuArgs = (name: string): string => `-S -machine none -display none -nodefaults -name guest=${name}`;
    // Each waits for its go file, then execs qemu: what the daemon saw before the exec was the wrapper.
    const gate = (go: string): string => `while [ ! -e ${go} ]; do sleep 0.05; done`;
    const cases: { name: string; wrapper: string; start(go: string): Background }[] = [
      {
        name: "exec-libvirtd",
        wrapper: "libvirtd",
        start(go) {
          // A script named libvirtd: its comm is "libvirtd", as libvirt's forked child's is.
          const script = join(dir, "libvirtd");
          writeFileSync(script, `#!/bin/sh\n${gate(go)}\nexec ${qemu} ${qemuArgs(this.name)}\n`);
          chmodSync(script, 0o755);
          return startBackground(script, []);
        },
      },
      {
        name: "exec-sh",
        wrapper: "sh",
        start(go) {
          return startBackground("/bin/sh", ["-c", `${gate(go)}; exec ${qemu} ${qemuArgs(this.name)}`]);
        },
      },
      {
        name: "pve-101",
        wrapper: "bash",
        start(go) {
          // Proxmox's qemu-server runs its VMs as `kvm -id VMID -name NAME` (Debian's qemu has no -id: it is Proxmox's patch).
          return startBackground(bash, ["-c", `${gate(go)}; exec -a kvm ${qemu} -S -machine none -display none -nodefaults -name pve-101`]);
        },
      },
    ];
    for (const c of cases) {
      const go = join(dir, `go-${c.name}`);
      const p = c.start(go);
      started.push(p);
      const pid = p.child.pid as number;
      const comm = await waitFor(`${c.name}'s wrapper to run`, async () => (await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "")).trim() || null);
      assert.equal(comm, c.wrapper, `the process is ${c.wrapper} before its exec`);
      // Two full steps with the wrapper running: the daemon has read it as what it is before its exec.
      const seen = await stepAtLeast(base, ((await status(base))?.steps ?? 0) + 2);
      assert.equal((await readFile(`/proc/${pid}/comm`, "utf8")).trim(), c.wrapper, "still the wrapper after two steps");
      assert.ok(!(await status(base))?.vms.some((v) => v.name === c.name), `${c.name} is no VM before its exec`);
      writeFileSync(go, "");
      await waitFor(`${c.name} to exec qemu`, async () =>
        (await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "")).startsWith("qemu-system") ? true : null,
      );
      const execStep = (await status(base))?.steps ?? seen;
      const found = await waitFor(
        `${c.name} in the daemon's status (log: ${daemon.output().slice(-2000)})`,
        async () => {
          const s = await status(base);
          return s?.vms.some((v) => v.name === c.name) ? s.steps : null;
        },
        60_000,
      );
      t.diagnostic(`${c.name}: seen as ${c.wrapper} until step ${execStep}, found as a VM at step ${found}`);
      // The step running when the exec happened may have read the process before it; the next one finds it.
      assert.ok(found <= execStep + 2, `${c.name} found at step ${found}, exec during step ${execStep + 1}`);
    }
  } finally {
    await daemon.stop();
    await removeTree(powercap);
    await rm(dir, { recursive: true, force: true });
  }
});
