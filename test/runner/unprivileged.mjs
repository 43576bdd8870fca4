// The fast tier runs unprivileged, as a contributor's laptop and CI run it:
// started as root, the runner becomes an unprivileged user (nobody, or
// $SCAPH_TEST_USER) with a HOME of its own before any test starts, so a
// fast-tier test that needs root fails here as it would for them.
import { spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** uid and gid of a user, from the system's user database; null if it has none. */
function userIds(name) {
  const r = spawnSync("getent", ["passwd", name], { encoding: "utf8" });
  const f = r.status === 0 ? r.stdout.trim().split(":") : [];
  return f.length >= 4 ? { uid: Number(f[2]), gid: Number(f[3]) } : null;
}

/** Whether `ids` may read every one of `paths` (checked by a process of theirs). */
function canRead(ids, paths) {
  const r = spawnSync(process.execPath, ["-e", "for (const p of process.argv.slice(1)) require('node:fs').accessSync(p, 4)", ...paths], { ...ids, stdio: "ignore" });
  return r.status === 0;
}

/**
 * Drops root for the rest of this process and its children. Returns how the
 * tests run, for the runner's header; `needed` are paths the tests must read
 * (the repository, its dependencies).
 *
 * Where the user cannot reach the checkout (a clone under a 0700 home), the
 * runner is started again through setpriv as root with no capability at all
 * (no mount, no device node, no reading others' files), and says so.
 */
export function dropRoot(needed) {
  if (process.getuid?.() !== 0) return `as uid ${process.getuid?.()}`;
  if (process.env.SCAPH_TEST_NO_CAPS === "1") return "as root with no capability (setpriv)";
  const name = process.env.SCAPH_TEST_USER || "nobody";
  const ids = userIds(name);
  if (ids && canRead(ids, needed)) {
    const home = mkdtempSync(join(tmpdir(), "scaph-test-home-"));
    chownSync(home, ids.uid, ids.gid);
    process.env.HOME = home;
    // npm's cache and configuration stay root's: the user gets its own
    process.env.npm_config_cache = join(home, ".npm");
    delete process.env.npm_config_userconfig;
    process.setgroups([ids.gid]);
    process.setgid(ids.gid);
    process.setuid(ids.uid);
    process.once("exit", () => rmSync(home, { recursive: true, force: true }));
    return `as ${name} (uid ${ids.uid}), HOME ${home}`;
  }
  const why = ids ? `${name} cannot read ${needed[0]} (a directory above it is closed to others)` : `there is no user ${name}`;
  process.stderr.write(`run-tests: ${why}: the fast tier runs as root with every capability dropped instead\n`);
  const r = spawnSync(
    "setpriv",
    ["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--", process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: "inherit", env: { ...process.env, SCAPH_TEST_NO_CAPS: "1" } },
  );
  if (r.error) {
    process.stderr.write(`run-tests: setpriv (util-linux) could not run: ${r.error.message}\n`);
    process.exit(2);
  }
  process.exit(r.status ?? 1);
}
