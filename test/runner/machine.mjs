// What a test file may not leave behind on the machine: a mount, a daemon, a
// system user, scaph's own packages installed, a temporary file or directory
// of scaph's tests (os.tmpdir()/scaph-*). The runner takes
// the machine's state before and after each file; what a file left is
// reported as that file's failure, then removed, so the next file (and the
// next run) starts from the machine as it was.
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Processes that tests start and that must end with them: daemons and VMs,
 * by their comm (15 characters at most), and scaph's own commands by
 * their command line.
 */
const DAEMONS = new Set([
  "libvirtd", "virtlogd", "virtqemud", "virtlockd", "dockerd", "containerd", "containerd-shim", "runc",
  "prometheus", "prometheus-push", "prometheus-node", "node_exporter", "pushgateway", "victoria-metric", "vmalert",
  "qemu-system-x86", "qemu-kvm", "systemd-nspawn", "virtiofsd", "riemann",
]);
const SCAPH_COMMAND = /(^|\/)(scaph-host|scaph-guest)(\.js|\.cjs)?(\0|$)|\/bin\/scaph-(host|guest)\.js\0/;
const PACKAGES = ["scaph-host", "scaph-guest"];

function read(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** Processes that count, as "pid:start time" → a description. */
function processes() {
  const out = new Map();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const stat = read(`/proc/${e}/stat`);
    const comm = read(`/proc/${e}/comm`)?.trim();
    const cmdline = read(`/proc/${e}/cmdline`) ?? "";
    if (stat === null || comm === undefined) continue;
    if (!DAEMONS.has(comm) && !SCAPH_COMMAND.test(cmdline)) continue;
    // the fields after the command's closing parenthesis; the 20th of them is the start time
    const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    out.set(`${e}:${start}`, `pid ${e} ${cmdline.split("\0").filter(Boolean).join(" ").slice(0, 160) || comm}`);
  }
  return out;
}

/** Mount points of this mount namespace. */
function mounts() {
  return new Set(
    (read("/proc/self/mountinfo") ?? "")
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ")[4].replace(/\\040/g, " ")),
  );
}

function users() {
  return new Set((read("/etc/passwd") ?? "").split("\n").filter(Boolean).map((l) => l.split(":")[0]));
}

function installedPackages() {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Package} ${Status}\\n", ...PACKAGES], { encoding: "utf8" });
  return new Set((r.stdout ?? "").split("\n").filter((l) => / installed$| config-files$/.test(l)).map((l) => l.split(" ")[0]));
}

/** The tests' temporary files and directories (every test names its own scaph-*). */
function temps() {
  return new Set(readdirSync(tmpdir()).filter((e) => e.startsWith("scaph-")));
}

/** The machine's state, as far as tests may change it. */
export function machineState() {
  return { processes: processes(), mounts: mounts(), users: users(), packages: installedPackages(), temps: temps() };
}

/** What `after` has that `before` had not, as lines of text; empty when nothing was left. */
export function leftSince(before, after) {
  const out = [];
  for (const [k, d] of after.processes) if (!before.processes.has(k)) out.push(`still running: ${d}`);
  for (const m of after.mounts) if (!before.mounts.has(m)) out.push(`still mounted: ${m}`);
  for (const u of after.users) if (!before.users.has(u)) out.push(`system user added: ${u}`);
  for (const p of after.packages) if (!before.packages.has(p)) out.push(`installed on this machine: ${p}`);
  for (const t of after.temps) if (!before.temps.has(t)) out.push(`temporary file left: ${join(tmpdir(), t)}`);
  return out;
}

/**
 * Waits up to `waitMs` for what `before` had not to go away on its own (a
 * daemon that was asked to stop takes a moment); returns what stayed.
 */
export async function settle(before, waitMs = 15_000) {
  const end = Date.now() + waitMs;
  for (;;) {
    const left = leftSince(before, machineState());
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Removes what a file left: kills its processes, unmounts its mounts (innermost first), removes its users and packages. */
export function cleanUp(before) {
  const now = machineState();
  for (const [k] of now.processes) {
    if (before.processes.has(k)) continue;
    try {
      process.kill(Number(k.split(":")[0]), "SIGKILL");
    } catch {
      // gone already
    }
  }
  const extra = [...now.mounts].filter((m) => !before.mounts.has(m)).sort((a, b) => b.length - a.length);
  for (const m of extra) spawnSync("umount", ["--lazy", m], { stdio: "ignore" });
  for (const u of now.users) if (!before.users.has(u)) spawnSync("userdel", [u], { stdio: "ignore" });
  const pkgs = [...now.packages].filter((p) => !before.packages.has(p));
  if (pkgs.length > 0) spawnSync("dpkg", ["--purge", ...pkgs], { stdio: "ignore" });
  for (const t of now.temps) if (!before.temps.has(t)) rmSync(join(tmpdir(), t), { recursive: true, force: true });
}
