/**
 * A machine where libvirt.so.0 cannot be loaded (bind-mounted over with
 * /dev/null in a private mount namespace): the libvirt tests still end on
 * their own, each failing with a message that names the package, libvirt0.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { requireRoot } from "@scaph/test-support";
import { repoRoot } from "../helpers/cli.js";

function libvirtSo(): string {
  const line = execFileSync("ldconfig", ["-p"], { encoding: "utf8" })
    .split("\n")
    .find((l) => /^\s*libvirt\.so\.0 \(/.test(l));
  assert.ok(line, "libvirt.so.0 not in the linker cache: install the Debian package libvirt0");
  return realpathSync(line.split("=> ")[1]!.trim());
}

test("libvirt.so.0 hidden: the libvirt tests end on their own, every failure naming libvirt0", () => {
  requireRoot("it makes a mount namespace");
  const so = libvirtSo();
  const files = ["libvirt/dist/test/", "host/dist/test/qemu/libvirt-join", "host/dist/test/setup/setup.system.test"];
  // The runner inside a test: node:test refuses to run files when it sees its own context variable.
  const env: NodeJS.ProcessEnv = { ...process.env, TEST_FILTER: files.join(",") };
  delete env.NODE_TEST_CONTEXT;
  const t0 = Date.now();
  const r = spawnSync(
    "unshare",
    ["-m", "sh", "-c", `mount --bind /dev/null '${so}' && exec "$0" "$@"`, process.execPath, join(repoRoot, "test/run-tests.mjs"), "--tier", "system"],
    {
      encoding: "utf8",
      env,
      timeout: 240_000,
    },
  );
  const out = r.stdout + r.stderr;
  assert.equal(r.error, undefined, `the run did not end on its own: ${String(r.error)}`);
  assert.equal(r.status, 1, out);
  assert.doesNotMatch(out, /DEADLINE/);
  const fails = Number(/ℹ fail (\d+)/.exec(out)?.[1]);
  const passes = Number(/ℹ pass (\d+)/.exec(out)?.[1]);
  assert.ok(fails >= 15, `${fails} failures:\n${out}`);
  // Every failure in the summary's list names the package (the list repeats each failure with its error).
  const failures = out
    .slice(out.indexOf("✖ failing tests:"))
    .split(/\n(?=test at )/)
    .slice(1);
  assert.equal(failures.length, fails, out);
  for (const f of failures) assert.match(f, /libvirt0/, f);
  // What needs no libvirt still passes: the XML editor, the error table.
  assert.ok(passes > 0, out);
  assert.ok(Date.now() - t0 < 200_000);
});
