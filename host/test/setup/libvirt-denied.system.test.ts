/**
 * A connection libvirt refuses for lack of permission is told apart from a
 * libvirtd that is not there by libvirt's own error (its code, and the errno
 * it records for a system call), never by its wording: run as nobody
 * (setpriv) against a root-only socket, and against no socket at all.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));

test("libvirt's own error says 'permission': SYSTEM_ERROR with errno EACCES is denied, ENOENT is not; the hint follows", async () => {
  try {
    execFileSync("sh", ["-c", "command -v setpriv"]);
  } catch {
    assert.fail("setpriv not found: install the Debian package util-linux");
  }
  const dir = mkdtempSync(join(tmpdir(), "scaph-denied-"));
  chmodSync(dir, 0o755);
  const sock = join(dir, "libvirt-sock");
  const server = createServer(() => undefined);
  await new Promise<void>((r) => server.listen(sock, r));
  chmodSync(sock, 0o600);
  try {
    const probe = join(dir, "probe.mjs");
    const mod = (p: string): string => JSON.stringify(join(here, p));
    execFileSync("sh", ["-c", `cat > "$1"`, "sh", probe], {
      input: `import { LibvirtError } from ${JSON.stringify(import.meta.resolve("@scaph/libvirt"))};
import { openLibvirt } from ${mod("../../src/setup/libvirt-domain.js")};
const out = {};
for (const [k, s] of [["denied", ${JSON.stringify(sock)}], ["absent", ${JSON.stringify(join(dir, "none"))}]]) {
  try { openLibvirt("qemu+unix:///system?socket=" + s); out[k] = "opened"; }
  catch (e) { const c = e.cause; out[k] = { scaph: e.name, libvirt: c instanceof LibvirtError ? { code: c.codeName, errno: c.errno, denied: c.denied } : null, hint: e.message.split("\\n")[1]?.trim() }; }
}
console.log(JSON.stringify(out));
`,
    });
    chmodSync(dir, 0o755);
    const r = JSON.parse(
      execFileSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, probe], { encoding: "utf8", cwd: here }),
    ) as Record<string, { scaph: string; libvirt: { code: string; errno: number; denied: boolean }; hint: string }>;
    assert.deepEqual(r.denied?.libvirt, { code: "SYSTEM_ERROR", errno: 13, denied: true });
    assert.equal(r.denied?.scaph, "ScaphError");
    assert.match(r.denied?.hint ?? "", /^Permission:/);
    assert.deepEqual(r.absent?.libvirt, { code: "SYSTEM_ERROR", errno: 2, denied: false });
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
