/**
 * The Proxmox VE hookscript, run as Proxmox runs it (`SCRIPT VMID PHASE`,
 * as root), in a mount namespace of its own over a scratch /var/lib/libvirt,
 * with `qm` stood in for by a script that answers `qm config VMID` as
 * Proxmox does. The mounts it makes are read back from the namespace's own
 * mount table.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireCommand, requireRoot } from "@scaph/test-support";
import { repoRoot } from "../helpers/cli.js";

const HOOK = join(repoRoot, "deploy/proxmox/scaph-hookscript.sh");
const dir = mkdtempSync(join(tmpdir(), "scaph-pve-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `qm config VMID` as Proxmox prints it, for a few VMs (a usable name, hostile ones, none). */
const QM = `#!/bin/sh
[ "$1" = config ] || { echo "qm stand-in: only 'qm config VMID'" >&2; exit 2; }
case "$2" in
  100) printf 'boot: order=scsi0\\ncores: 2\\nmemory: 2048\\nname: web-1\\nostype: l26\\n' ;;
  101) printf 'cores: 1\\nname: ../../etc\\n' ;;
  102) printf 'cores: 1\\n' ;;
  103) printf 'name: .hidden\\n' ;;
  *) echo "Configuration file 'nodes/pve/qemu-server/$2.conf' does not exist" >&2; exit 2 ;;
esac
`;

/**
 * Runs `steps` (hookscript calls, one per line: VMID PHASE) in a private mount namespace with a tmpfs
 * over /var/lib/libvirt; returns each call's exit code and stderr, and the mounts under it afterwards.
 */
function inSandbox(steps: readonly string[]): { calls: { code: number; stderr: string }[]; mounts: string[]; tree: string } {
  const bin = join(dir, "bin");
  spawnSync("mkdir", ["-p", bin]);
  writeFileSync(join(bin, "qm"), QM);
  chmodSync(join(bin, "qm"), 0o755);
  const script = `set -u
mount -t tmpfs scratch /var/lib/libvirt
for step in ${steps.map((s) => `'${s}'`).join(" ")}; do
  err=$(sh ${HOOK} $step 2>&1 >/dev/null); echo "CALL $? $err"
done
findmnt -rn -o TARGET,FSTYPE,OPTIONS | grep '^/var/lib/libvirt/' | sed 's/^/MOUNT /'
find /var/lib/libvirt | sed 's/^/TREE /'
`;
  const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script], {
    encoding: "utf8",
    env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin` },
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split("\n");
  return {
    calls: lines.filter((l) => l.startsWith("CALL ")).map((l) => ({ code: Number(l.split(" ")[1]), stderr: l.split(" ").slice(2).join(" ") })),
    mounts: lines.filter((l) => l.startsWith("MOUNT ")).map((l) => l.slice(6)),
    tree: lines
      .filter((l) => l.startsWith("TREE "))
      .map((l) => l.slice(5))
      .join("\n"),
  };
}

test("Proxmox hookscript: pre-start mounts one tmpfs per VM at its name (again: no second mount); other phases touch nothing; hostile or missing names get no tree", () => {
  requireRoot("the hookscript mounts a tmpfs, in a mount namespace of the test's");
  requireCommand("unshare", "util-linux");
  requireCommand("findmnt", "util-linux");
  const r = inSandbox(["100 pre-start", "100 post-start", "100 pre-start", "100 pre-stop", "100 post-stop", "101 pre-start", "102 pre-start", "103 pre-start"]);
  assert.deepEqual(
    r.calls.map((c) => c.code),
    [0, 0, 0, 0, 0, 0, 0, 0],
    "a hookscript never fails a VM's start",
  );
  assert.equal(r.mounts.length, 1, `one mount in all:\n${r.mounts.join("\n")}`);
  const [target, fstype, options] = (r.mounts[0] ?? "").split(" ");
  assert.equal(target, "/var/lib/libvirt/scaphandre/web-1");
  assert.equal(fstype, "tmpfs");
  assert.match(options ?? "", /size=5120k/);
  assert.match(options ?? "", /mode=755/);
  // post-stop leaves the tmpfs: the VM's counters continue at its next start
  for (const [i, why] of [
    [5, "../../etc"],
    [6, "no name"],
    [7, ".hidden"],
  ] as const) {
    assert.match(r.calls[i]?.stderr ?? "", /has no name usable as a directory: no tree/, `${why}: said on stderr`);
  }
  assert.doesNotMatch(r.tree, /etc|hidden/, `nothing made for the hostile names:\n${r.tree}`);
});
