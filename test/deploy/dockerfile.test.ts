/**
 * The Dockerfile against this repository and the CLI: its COPY sources
 * exist, its build step makes what it copies, and the image's commands are
 * ones scaph-host and scaph-guest take. (The image built and run by a real
 * dockerd: docker-image.system.test.ts.)
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { repoRoot, runNode } from "../helpers/cli.js";

const deploy = join(repoRoot, "deploy");
const dir = mkdtempSync(join(tmpdir(), "scaph-dockerfile-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the Dockerfile: its COPY sources exist, its build step makes what it copies, its command is scaph-host's", async () => {
  const lines = readFileSync(join(deploy, "docker/Dockerfile"), "utf8")
    .split("\n")
    .filter((l) => l.trim() && !l.trim().startsWith("#"));
  const copies = lines.filter((l) => l.startsWith("COPY "));
  assert.ok(copies.length > 0);
  for (const l of copies) {
    const parts = l.split(/\s+/).slice(1);
    if (parts[0]?.startsWith("--from=")) continue;
    for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(repoRoot, src)), `COPY ${src}: not in the repository`);
  }
  // the build stage's command, run here: it must make the directory the image copies
  const build = lines.find((l) => l.includes("package.mjs"));
  assert.match(build ?? "", /node deploy\/packaging\/package\.mjs --only host-bundle,guest-bundle --out \/out/);
  const out = join(dir, "out");
  const b = await runNode(join(repoRoot, "deploy/packaging/package.mjs"), ["--only", "host-bundle,guest-bundle", "--out", out], { timeoutMs: 120_000 });
  assert.equal(b.code, 0, b.stderr);
  const from = lines.find((l) => l.startsWith("COPY --from=build"))?.split(/\s+/);
  assert.equal(from?.[2], "/out/scaph-host");
  assert.equal(from?.[3], "/usr/lib/scaph-host");
  // ENTRYPOINT + CMD, run against what the build made
  const entry = JSON.parse(lines.find((l) => l.startsWith("ENTRYPOINT "))!.slice(11)) as string[];
  const cmd = JSON.parse(lines.find((l) => l.startsWith("CMD "))!.slice(4)) as string[];
  assert.equal(entry[0], "/usr/lib/scaph-host/node", "the image runs the Node it was built with");
  const args = entry.slice(1).map((a) => a.replace("/usr/lib/scaph-host", join(out, "scaph-host")));
  const r = await runNode(args[0] ?? "", [...args.slice(1), ...cmd, "--help"]);
  assert.equal(r.code, 0, `the image's command: ${r.stderr}`);
  assert.match(r.stdout, /Usage: scaph-host prometheus/);
  // the image's scaph-guest, for nodes that are VMs: the bundle the build copies, with --containers
  assert.match(lines.join("\n"), /cp \/out\/scaph-guest-\*\.cjs \/out\/scaph-host\/scaph-guest\.cjs/);
  const guest = readdirSync(out).find((f) => /^scaph-guest-.*\.cjs$/.test(f));
  assert.ok(guest, `the guest bundle in ${readdirSync(out).join(", ")}`);
  const g = await runNode(join(out, guest), ["prometheus", "--containers", "--help"]);
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stdout, /Usage: scaph-guest prometheus/);
});

test("docs/deployment.md's docker run line runs the image as the compose file does: the same user, capabilities, read-only root, privileges, mounts and command", () => {
  const readme = readFileSync(join(repoRoot, "docs/deployment.md"), "utf8");
  // the line and its continuations (each ending in a backslash)
  const m = /^docker run ((?:.*\\\n)*.*)$/m.exec(readme);
  assert.ok(m, "a docker run line in docs/deployment.md");
  const words = m[1]!.replace(/\\\n/g, " ").split(/\s+/).filter(Boolean);
  const image = words.indexOf("scaph-host:0.1.0");
  assert.ok(image > 0, words.join(" "));
  const flags = words.slice(0, image);
  const values = (flag: string): string[] => flags.flatMap((w, i) => (w === flag ? [flags[i + 1]!] : []));
  const compose = parse(readFileSync(join(deploy, "compose/docker-compose.yaml"), "utf8")) as {
    services: {
      scaph: {
        image: string;
        user: string;
        cap_drop: string[];
        cap_add: string[];
        read_only: boolean;
        security_opt: string[];
        volumes: string[];
        command: string[];
      };
    };
  };
  const c = compose.services.scaph;
  assert.equal(`${words[image]}`, c.image);
  assert.deepEqual(values("--user"), [c.user]);
  assert.deepEqual(values("--cap-drop"), c.cap_drop);
  assert.deepEqual(values("--cap-add"), c.cap_add);
  assert.equal(flags.includes("--read-only"), c.read_only);
  assert.deepEqual(values("--security-opt"), c.security_opt);
  assert.deepEqual(values("-v"), c.volumes);
  assert.deepEqual(words.slice(image + 1), c.command);
  assert.match(readme, /^docker build -t scaph-host:0\.1\.0 -f deploy\/docker\/Dockerfile \.$/m);
});
