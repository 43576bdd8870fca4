import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireRoot } from "@scaph/test-support";
import { DEFAULT_LIBVIRT_RUN_DIR, libvirtPidReader } from "@scaph/host";
import { hostBin, runNode } from "../helpers/cli.js";
import { waitFor, writeBusyBootSector } from "../helpers/processes.js";
import { domainType } from "../lab/accel.js";
import { ensureLibvirtd, virsh } from "../helpers/libvirtd.js";
import type { Libvirtd } from "../helpers/libvirtd.js";

const NAME = "scaph-setup-e2e";
let daemon: Libvirtd | null = null;
after(async () => {
  await daemon?.stop();
});

const mountedAt = (dir: string): boolean =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === dir);

async function qemuProcess(): Promise<{ pid: number; cmdline: string }> {
  return waitFor("the domain's qemu process", async () => {
    const pid = execFileSync("pgrep", ["-f", `guest=${NAME}`], { encoding: "utf8" })
      .trim()
      .split("\n")[0];
    return pid ? { pid: Number(pid), cmdline: (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").join(" ") } : null;
  });
}

test("a real libvirtd domain: setup puts the 9p and virtiofs shares into qemu's command line; teardown of the running domain refuses, or goes on with --force", async () => {
  requireRoot("it starts libvirtd and setup mounts a tmpfs");
  daemon = await ensureLibvirtd();
  const dir = await mkdtemp(join(tmpdir(), "scaph-lvd-"));
  await chmod(dir, 0o755);
  const img = join(dir, "boot.img");
  await writeBusyBootSector(img);
  const { type } = await domainType();
  const xml = `<domain type='${type}'><name>${NAME}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
    <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><features><acpi/></features>
    <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${img}'/><target dev='hda' bus='ide'/></disk></devices></domain>`;
  const xmlFile = join(dir, "dom.xml");
  await import("node:fs/promises").then((f) => f.writeFile(xmlFile, xml));
  // A domain left by an earlier run that was killed: gone first.
  for (const cmd of ["destroy", "undefine"]) {
    try {
      virsh(cmd, NAME);
    } catch {
      // not there, or not running
    }
  }
  virsh("define", xmlFile);
  const flags = ["--base-dir", join(dir, "base"), "--unit-dir", dir];
  try {
    for (const transport of ["9p", "virtiofs"] as const) {
      const s = await runNode(hostBin, ["setup", NAME, "--transport", transport, ...flags]);
      assert.equal(s.code, 0, s.stderr);
      const again = await runNode(hostBin, ["setup", NAME, "--transport", transport, ...flags]);
      assert.match(again.stdout, /nothing to change/);
      virsh("start", NAME);
      const { pid, cmdline: cmd } = await qemuProcess();
      // Discovery checks a libvirt domain's process against libvirt's own pid file: it is where the daemon looks.
      assert.equal(libvirtPidReader(DEFAULT_LIBVIRT_RUN_DIR)(NAME), pid, `${DEFAULT_LIBVIRT_RUN_DIR}/${NAME}.pid names the qemu process`);
      if (transport === "9p") {
        assert.match(cmd, new RegExp(`-fsdev local,[^ ]*path=${join(dir, "base", NAME)},readonly`));
        assert.match(cmd, /"driver":"virtio-9p-pci"[^ ]*"mount_tag":"scaphandre"/);
      } else {
        assert.match(cmd, /"driver":"vhost-user-fs-pci"[^ ]*"tag":"scaphandre"/);
        const vfs = execFileSync("pgrep", ["-af", "virtiofsd"], { encoding: "utf8" });
        assert.match(vfs, new RegExp(`source=${join(dir, "base", NAME)},cache=none`));
        // virtiofs blocks qemu's migration stream: a save (like a live migration) is refused. The channel does not.
        assert.throws(() => virsh("save", NAME, join(dir, "saved.img")), /migrat|vhost-user-fs/i);
      }
      const st = await runNode(hostBin, ["status", "--json", "--base-dir", join(dir, "base")]);
      const row = (
        JSON.parse(st.stdout) as { rows: { domain: string; mounted: boolean; transport: string; live_transport: string; problems: string[] }[] }
      ).rows.find((r) => r.domain === NAME);
      assert.equal(row?.mounted, true);
      assert.equal(row?.transport, transport);
      assert.equal(row?.live_transport, transport);
      assert.deepEqual(row?.problems, ["tree not updated for ever (is scaph-host qemu running?)"]);
      assert.equal(st.code, 1);
      // A running domain: teardown detaches the share live first. 9p cannot be unplugged, and this guest (no OS)
      // never acknowledges virtiofs's PCI unplug: refused, nothing changed.
      const treeDir = join(dir, "base", NAME);
      const refused = await runNode(hostBin, ["teardown", NAME, ...flags]);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, new RegExp(`cannot detach the ${transport} share from running ${NAME}: .+\\.\\n  Nothing was changed`));
      assert.match(virsh("dumpxml", "--inactive", NAME), /scaphandre/);
      assert.ok(mountedAt(treeDir), "the tmpfs stays under the running guest");
      if (transport === "9p") {
        // --force goes on: the guest keeps its last values, the tmpfs and the XML's share are gone
        const forced = await runNode(hostBin, ["teardown", NAME, "--force", ...flags]);
        assert.equal(forced.code, 0, forced.stderr);
        assert.match(forced.stdout, /going on \(--force\)/);
        assert.equal(mountedAt(treeDir), false);
        assert.equal(existsSync(treeDir), false);
        assert.doesNotMatch(virsh("dumpxml", "--inactive", NAME), /scaphandre/);
      }
      virsh("destroy", NAME);
      const td = await runNode(hostBin, ["teardown", NAME, ...flags]);
      assert.equal(td.code, 0, td.stderr);
      assert.doesNotMatch(virsh("dumpxml", "--inactive", NAME), /scaphandre/);
    }
    // set up while running, without --live: the share is only in the persistent XML, and status says so;
    // a tree the daemon stopped writing a minute ago is flagged too
    virsh("start", NAME);
    assert.equal((await runNode(hostBin, ["setup", NAME, "--transport", "9p", ...flags])).code, 0);
    const tree = join(dir, "base", NAME, "intel-rapl:0");
    await mkdir(tree, { recursive: true });
    await writeFile(join(tree, "energy_uj"), "1000\n");
    const old = new Date(Date.now() - 60_000);
    await utimes(join(tree, "energy_uj"), old, old);
    const st = await runNode(hostBin, ["status", "--json", "--base-dir", join(dir, "base")]);
    assert.equal(st.code, 1);
    const row = (JSON.parse(st.stdout) as { rows: { domain: string; transport: string; live_transport: string | null; problems: string[] }[] }).rows.find(
      (r) => r.domain === NAME,
    );
    assert.equal(row?.transport, "9p");
    assert.equal(row?.live_transport, null);
    assert.ok(row?.problems.includes("9p only in the persistent XML: restart the VM"), row?.problems.join("; "));
    assert.ok(
      row?.problems.some((p) => /^tree not updated for (59|6\d) s/.test(p)),
      row?.problems.join("; "),
    );
    virsh("destroy", NAME);
  } finally {
    try {
      virsh("destroy", NAME);
    } catch {
      // not running
    }
    await runNode(hostBin, ["teardown", NAME, ...flags]);
    virsh("undefine", NAME);
    await rm(dir, { recursive: true, force: true });
  }
});

test("setup --dry-run as a user: read-only, and a refusal says permission, not that libvirtd is down", async () => {
  requireRoot("it starts libvirtd and drops to nobody with setpriv");
  daemon ??= await ensureLibvirtd();
  const r = await runNode(hostBin, ["setup", "no-such-domain", "--dry-run"], { wrapper: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] });
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.stderr, /Is libvirtd running/);
  // where polkit lets any user read (a host with D-Bus), the lookup itself fails; else the read-only connection is refused
  assert.match(r.stderr, /no domain named "no-such-domain"|Permission: libvirt refused even a read-only connection/);
});
