/**
 * A real Docker Engine for the image tests: Debian's dockerd started here
 * as root with no systemd and no bridge (vfs storage, its data kept between
 * runs so that base images are cached; what the last run left untagged is
 * pruned when it starts), and base images made
 * locally, since no registry is reachable: Debian 12 from mmdebstrap
 * (`docker import`), and the same with this machine's Node and npm.
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { waitFor } from "./processes.js";
import { requireCommand } from "@scaph/test-support";

const ROOT = "/var/lib/scaph-test-docker";
export const DOCKER_HOST = `unix://${ROOT}/docker.sock`;

export interface Docker {
  /** Runs the docker CLI against this engine; never throws. */
  run(args: readonly string[], input?: string): { code: number; stdout: string; stderr: string };
  /** The same, failing with the output unless it exits 0; returns stdout. */
  ok(args: readonly string[]): string;
  stop(): Promise<void>;
}

export async function startDocker(): Promise<Docker> {
  const dockerd = requireCommand("dockerd", "docker.io");
  const cli = requireCommand("docker", "docker.io");
  const run = (args: readonly string[], input?: string): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync(cli, [...args], { encoding: "utf8", input, env: { ...process.env, DOCKER_HOST }, maxBuffer: 64 * 1024 * 1024, timeout: 1_200_000 });
    return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };
  const ok = (args: readonly string[]): string => {
    const r = run(args);
    if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.code}:\n${r.stderr.slice(-4000)}${r.stdout.slice(-2000)}`);
    return r.stdout;
  };
  let child: ChildProcess | null = null;
  if (run(["version", "--format", "{{.Server.Version}}"]).code !== 0) {
    for (const d of ["data", "exec"]) mkdirSync(join(ROOT, d), { recursive: true });
    rmSync(join(ROOT, "docker.pid"), { force: true });
    child = spawn(
      dockerd,
      [
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--storage-driver=vfs",
        "--data-root",
        join(ROOT, "data"),
        "--exec-root",
        join(ROOT, "exec"),
        "-H",
        DOCKER_HOST,
        "--pidfile",
        join(ROOT, "docker.pid"),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let log = "";
    child.stderr?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    await waitFor(
      "dockerd to answer",
      () => {
        if (child?.exitCode !== null) throw new Error(`dockerd ended: ${log}`);
        return run(["version", "--format", "{{.Server.Version}}"]).code === 0 ? true : null;
      },
      60_000,
    );
    // Each run builds the test images anew and leaves the last build's layers untagged: vfs keeps every layer as a full
    // copy, so they took 78 GB over a day of runs and filled the disk. The tagged base images stay cached.
    ok(["system", "prune", "--force"]);
  }
  return {
    run,
    ok,
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child?.on("exit", () => r()));
      child.kill("SIGTERM");
      const t = setTimeout(() => child?.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(t);
      // dockerd leaves its default network namespace mounted in its exec root: nothing of a test stays mounted
      spawnSync("umount", [join(ROOT, "exec", "netns", "default")], { stdio: "ignore" });
    },
  };
}

const hasImage = (d: Docker, tag: string): boolean => d.run(["image", "inspect", tag]).code === 0;

/**
 * The base images, made here once: Debian 12 minbase with libvirt0, and the same with this machine's
 * Node and npm (as the official node image lays them out) and its CA certificates, so that npm reaches
 * its registry from a build as it does from here (a proxy's CA, where there is one).
 */
export function baseImages(d: Docker): { base: string; buildBase: string } {
  const base = "scaph-test/debian:bookworm-libvirt0";
  const buildBase = `scaph-test/node:${process.version.slice(1)}`;
  if (!hasImage(d, base)) {
    const mm = requireCommand("mmdebstrap", "mmdebstrap");
    const r = spawnSync(
      "sh",
      ["-c", `"$1" --quiet --variant=minbase --include=libvirt0 bookworm - | DOCKER_HOST="$2" docker import - "$3"`, "sh", mm, DOCKER_HOST, base],
      { encoding: "utf8", timeout: 900_000 },
    );
    if (r.status !== 0 || !hasImage(d, base)) throw new Error(`making ${base} (mmdebstrap | docker import) failed: ${r.stderr}`);
  }
  if (!hasImage(d, buildBase)) {
    const ctx = mkdtempSync(join(tmpdir(), "scaph-node-image-"));
    try {
      copyFileSync(process.execPath, join(ctx, "node"));
      const npm = join(dirname(dirname(process.execPath)), "lib", "node_modules", "npm");
      if (!existsSync(npm)) throw new Error(`npm is not at ${npm}: the build base image needs it`);
      cpSync(npm, join(ctx, "npm"), { recursive: true });
      copyFileSync("/etc/ssl/certs/ca-certificates.crt", join(ctx, "ca.crt"));
      writeFileSync(
        join(ctx, "Dockerfile"),
        `FROM ${base}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca.crt /etc/ssl/certs/build-ca.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/build-ca.crt NPM_CONFIG_CAFILE=/etc/ssl/certs/build-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
`,
      );
      d.ok(["build", "-q", "-t", buildBase, ctx]);
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }
  }
  return { base, buildBase };
}

/**
 * A one-file image: busybox-static's binary as /bin/busybox and /bin/sh,
 * imported from a tarball (no registry is reachable). Its containers burn
 * CPU with `sh -c 'while :; do :; done'`.
 */
export function busyboxImage(d: Docker): string {
  const tag = "scaph-test/busybox:1";
  if (hasImage(d, tag)) return tag;
  const busybox = requireCommand("busybox", "busybox-static");
  const root = mkdtempSync(join(tmpdir(), "scaph-busybox-"));
  try {
    mkdirSync(join(root, "bin"));
    copyFileSync(busybox, join(root, "bin", "busybox"));
    const r = spawnSync("sh", ["-c", `ln -s busybox "$1/bin/sh" && tar -C "$1" -c . | DOCKER_HOST="$2" docker import - "$3"`, "sh", root, DOCKER_HOST, tag], {
      encoding: "utf8",
      timeout: 120_000,
    });
    if (r.status !== 0 || !hasImage(d, tag)) throw new Error(`making ${tag} (tar | docker import) failed: ${r.stderr}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return tag;
}
