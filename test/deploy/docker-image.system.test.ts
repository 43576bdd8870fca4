/**
 * The container image, built by a real dockerd from deploy/docker/Dockerfile
 * (its bases given as build arguments: images made here, no registry), then
 * run as deploy/compose/docker-compose.yaml runs it (root, every capability
 * dropped but SYS_PTRACE, a read-only root, no new privileges, the host's
 * /proc read-only at /host/proc) against a simulated RAPL tree at
 * /host/sys/class/powercap: /metrics has the host's power and its processes'.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { copyFixture, PowerSimulator, removeTree, requireCommand, requireRoot } from "@scaph/test-support";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../helpers/cli.js";
import { capabilityNames } from "../helpers/nspawn.js";
import { baseImages, DOCKER_HOST, startDocker } from "../helpers/docker.js";
import type { Docker } from "../helpers/docker.js";
import { freePort, waitFor } from "../helpers/processes.js";
import { sample } from "../helpers/scrape.js";

const TAG = "scaph-host:test";
const NAME = `scaph-image-test-${process.pid}`;
const WATTS = 25;
let docker: Docker | null = null;
after(async () => {
  docker?.run(["rm", "-f", NAME]);
  await docker?.stop();
});

test(
  "the container image: built from the Dockerfile by dockerd, run with the compose file's sandbox, serves the host's power and its processes'",
  { timeout: 1_500_000 },
  async (t) => {
    requireRoot("it starts dockerd");
    docker = await startDocker();
    const d = docker;
    const t0 = Date.now();
    const { base, buildBase } = baseImages(d);
    t.diagnostic(`base images ready in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${base}, ${buildBase}`);
    const t1 = Date.now();
    // --network host: the build's npm ci reaches the registry as this machine does (dockerd has no bridge here)
    d.ok([
      "build",
      "-q",
      "--network",
      "host",
      "--build-arg",
      `BUILD_BASE=${buildBase}`,
      "--build-arg",
      `BASE=${base}`,
      "-f",
      "deploy/docker/Dockerfile",
      "-t",
      TAG,
      repoRoot,
    ]);
    const sizeMiB = Number(d.ok(["image", "inspect", "-f", "{{.Size}}", TAG]).trim()) / 2 ** 20;
    const baseMiB = Number(d.ok(["image", "inspect", "-f", "{{.Size}}", base]).trim()) / 2 ** 20;
    t.diagnostic(
      `image built in ${((Date.now() - t1) / 1000).toFixed(0)} s: ${sizeMiB.toFixed(0)} MiB (its base ${baseMiB.toFixed(0)} MiB, scaph ${(sizeMiB - baseMiB).toFixed(0)} MiB)`,
    );

    const powercap = await copyFixture("powercap/intel-1socket");
    const sim = new PowerSimulator({ powercapRoot: powercap, zones: [{ zone: "intel-rapl:0", watts: WATTS }] });
    sim.start();
    try {
      const port = await freePort();
      d.ok([
        "run",
        "-d",
        "--name",
        NAME,
        "--network",
        "host",
        "--user",
        "0:0",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "SYS_PTRACE",
        "--read-only",
        "--security-opt",
        "no-new-privileges:true",
        "-v",
        "/proc:/host/proc:ro",
        "-v",
        `${powercap}:/host/sys/class/powercap:ro`,
        // --containers, as the Helm chart runs it: Docker's socket, read-only
        "-v",
        `${DOCKER_HOST.replace("unix://", "")}:/var/run/docker.sock:ro`,
        TAG,
        "prometheus",
        "--address",
        "127.0.0.1",
        "--port",
        String(port),
        "--procfs-path",
        "/host/proc",
        "--powercap-path",
        "/host/sys/class/powercap",
        "--step",
        "1",
        "--containers",
      ]);
      const body = await waitFor(
        `${WATTS} W on the container's /metrics`,
        async () => {
          const r = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null);
          const b = r?.ok ? await r.text() : "";
          const w = (sample(b, "scaph_host_power_microwatts") ?? 0) / 1e6;
          return Math.abs(w - WATTS) < 2.5 ? b : null;
        },
        120_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\nthe container's log:\n${d.run(["logs", NAME]).stderr.slice(-3000)}`);
      });
      // the host's processes, read through /host/proc (pids as the host numbers them), not only its own
      const pid = Number(d.ok(["inspect", "-f", "{{.State.Pid}}", NAME]).trim());
      const pids = [...body.matchAll(/^scaph_process_power_consumption_microwatts\{pid="(\d+)"/gm)].map((m) => Number(m[1]));
      assert.ok(
        pids.some((p) => p !== pid),
        `the host's processes, seen from the container: ${pids.join(", ")}`,
      );
      // the sandbox the kernel applies: SYS_PTRACE alone, no new privileges
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      assert.deepEqual(capabilityNames(/^CapEff:\s*(\w+)/m.exec(status)?.[1] ?? "0"), ["CAP_SYS_PTRACE"]);
      assert.match(status, /^NoNewPrivs:\s*1$/m);
      assert.equal(d.ok(["inspect", "-f", "{{.State.Running}} {{.RestartCount}}", NAME]).trim(), "true 0");
      // --containers from inside the image: its own process, seen in the host's /proc, carries its container's id and name
      const id = d.ok(["inspect", "-f", "{{.Id}}", NAME]).trim();
      const own = await waitFor(
        "scaph's own series labelled with its container",
        async () => {
          const b = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          return (
            b
              .split("\n")
              .find(
                (l) => l.startsWith("scaph_process_power_consumption_microwatts{") && l.includes(`pid="${pid}"`) && l.includes(`container_names="${NAME}"`),
              ) ?? null
          );
        },
        60_000,
      );
      assert.ok(own.includes(`container_id="${id}"`) && own.includes('container_scheduler="docker"'), own);
      // and the image's scaph-guest, for Kubernetes nodes that are VMs
      const guest = d
        .ok(["run", "--rm", "--network", "none", "--entrypoint", "/usr/lib/scaph-host/node", TAG, "/usr/lib/scaph-host/scaph-guest.cjs", "--version"])
        .trim();
      assert.match(guest, /^\d+\.\d+\.\d+/);
    } finally {
      d.run(["rm", "-f", NAME]);
      await sim.stop();
      await removeTree(powercap);
    }
  },
);

test(
  "the compose stack: scaph and a Prometheus (made here from Debian's) come up with docker-compose, and Prometheus scrapes scaph",
  { timeout: 900_000 },
  async (t) => {
    requireRoot("it starts dockerd");
    const compose = requireCommand("docker-compose", "docker-compose");
    docker ??= await startDocker();
    const d = docker;
    const { base, buildBase } = baseImages(d);
    // Prometheus as its official image lays it out (entrypoint /bin/prometheus, working dir /prometheus), from Debian's binary
    const promImage = "scaph-test/prometheus:debian";
    const ctx = mkdtempSync(join(tmpdir(), "scaph-prom-image-"));
    const project = `scaphtest${process.pid}`;
    const powercap = await copyFixture("powercap/intel-1socket");
    const sim = new PowerSimulator({ powercapRoot: powercap, zones: [{ zone: "intel-rapl:0", watts: WATTS }] });
    sim.start();
    const dc = (args: readonly string[]): { code: number; out: string } => {
      const r = spawnSync(compose, ["-p", project, "-f", join(repoRoot, "deploy/compose/docker-compose.yaml"), "-f", join(ctx, "override.yaml"), ...args], {
        encoding: "utf8",
        env: { ...process.env, DOCKER_HOST },
        timeout: 900_000,
      });
      return { code: r.status ?? 1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
    };
    try {
      copyFileSync(requireCommand("prometheus", "prometheus"), join(ctx, "prometheus"));
      writeFileSync(join(ctx, "Dockerfile"), `FROM ${base}\nCOPY prometheus /bin/prometheus\nWORKDIR /prometheus\nENTRYPOINT ["/bin/prometheus"]\n`);
      d.ok(["build", "-q", "-t", promImage, ctx]);
      // What this machine changes: the bases (no registry), the images, a simulated RAPL tree
      writeFileSync(
        join(ctx, "override.yaml"),
        `version: "3.8"
services:
  scaph:
    image: ${TAG}
    build:
      network: host
      args:
        BUILD_BASE: ${buildBase}
        BASE: ${base}
    # this machine has no /sys/class/powercap to mount a tree over: the tree goes beside /host/sys
    volumes:
      - ${powercap}:/host/powercap:ro
    command: ["prometheus", "--address", "::", "--port", "8080", "--procfs-path", "/host/proc", "--powercap-path", "/host/powercap", "--step", "2"]
  prometheus:
    image: ${promImage}
`,
      );
      const up = dc(["up", "-d", "--no-build", "scaph", "prometheus"]);
      assert.equal(up.code, 0, up.out);
      // Prometheus's own view: the scrape of scaph is up and has the host's power
      const w = await waitFor(
        "Prometheus to have scraped scaph's host power",
        async () => {
          const r = await fetch(`http://127.0.0.1:9090/api/v1/query?query=${encodeURIComponent('scaph_host_power_microwatts{job="scaph-host"}')}`).catch(
            () => null,
          );
          const j = r?.ok ? ((await r.json()) as { data?: { result?: { value: [number, string] }[] } }) : null;
          const v = Number(j?.data?.result?.[0]?.value[1] ?? NaN);
          return Number.isFinite(v) && v > 0 ? v / 1e6 : null;
        },
        180_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${dc(["logs", "--tail", "30"]).out}`);
      });
      t.diagnostic(`Prometheus in the compose stack reads ${w.toFixed(1)} W from scaph`);
      assert.ok(Math.abs(w - WATTS) < 2.5, `${w} W, simulated ${WATTS} W`);
      // the shipped rules loaded
      const rules = (await (await fetch("http://127.0.0.1:9090/api/v1/rules")).json()) as { data: { groups: unknown[] } };
      assert.ok(rules.data.groups.length > 0, "scaph's recording and alerting rules loaded");
    } finally {
      dc(["down", "-v"]);
      await sim.stop();
      await removeTree(powercap);
      rmSync(ctx, { recursive: true, force: true });
    }
  },
);
