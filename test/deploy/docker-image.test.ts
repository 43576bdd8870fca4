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
import { copyFixture, PowerSimulator, removeTree, requireRoot } from "@scaph/common/testing";
import { readFileSync } from "node:fs";
import { repoRoot } from "../helpers/cli.js";
import { capabilityNames } from "../helpers/nspawn.js";
import { baseImages, startDocker } from "../helpers/docker.js";
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

test("the container image: built from the Dockerfile by dockerd, run with the compose file's sandbox, serves the host's power and its processes'", { timeout: 1_500_000 }, async (t) => {
  requireRoot("it starts dockerd");
  docker = await startDocker();
  const d = docker;
  const t0 = Date.now();
  const { base, buildBase } = baseImages(d);
  t.diagnostic(`base images ready in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${base}, ${buildBase}`);
  const t1 = Date.now();
  // --network host: the build's npm ci reaches the registry as this machine does (dockerd has no bridge here)
  d.ok(["build", "-q", "--network", "host", "--build-arg", `BUILD_BASE=${buildBase}`, "--build-arg", `BASE=${base}`, "-f", "deploy/docker/Dockerfile", "-t", TAG, repoRoot]);
  const sizeMiB = Number(d.ok(["image", "inspect", "-f", "{{.Size}}", TAG]).trim()) / 2 ** 20;
  const baseMiB = Number(d.ok(["image", "inspect", "-f", "{{.Size}}", base]).trim()) / 2 ** 20;
  t.diagnostic(`image built in ${((Date.now() - t1) / 1000).toFixed(0)} s: ${sizeMiB.toFixed(0)} MiB (its base ${baseMiB.toFixed(0)} MiB, scaph ${(sizeMiB - baseMiB).toFixed(0)} MiB)`);

  const powercap = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({ powercapRoot: powercap, zones: [{ zone: "intel-rapl:0", watts: WATTS }] });
  sim.start();
  try {
    const port = await freePort();
    d.ok([
      "run", "-d", "--name", NAME, "--network", "host",
      "--user", "0:0", "--cap-drop", "ALL", "--cap-add", "SYS_PTRACE", "--read-only", "--security-opt", "no-new-privileges:true",
      "-v", "/proc:/host/proc:ro", "-v", `${powercap}:/host/sys/class/powercap:ro`,
      TAG,
      "prometheus", "--address", "127.0.0.1", "--port", String(port), "--procfs-path", "/host/proc", "--powercap-path", "/host/sys/class/powercap", "--step", "1",
    ]);
    const body = await waitFor(`${WATTS} W on the container's /metrics`, async () => {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null);
      const b = r?.ok ? await r.text() : "";
      const w = (sample(b, "scaph_host_power_microwatts") ?? 0) / 1e6;
      return Math.abs(w - WATTS) < 2.5 ? b : null;
    }, 120_000).catch((err: Error) => {
      throw new Error(`${err.message}\nthe container's log:\n${d.run(["logs", NAME]).stderr.slice(-3000)}`);
    });
    // the host's processes, read through /host/proc (pids as the host numbers them), not only its own
    const pid = Number(d.ok(["inspect", "-f", "{{.State.Pid}}", NAME]).trim());
    const pids = [...body.matchAll(/^scaph_process_power_consumption_microwatts\{pid="(\d+)"/gm)].map((m) => Number(m[1]));
    assert.ok(pids.some((p) => p !== pid), `the host's processes, seen from the container: ${pids.join(", ")}`);
    // the sandbox the kernel applies: SYS_PTRACE alone, no new privileges
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    assert.deepEqual(capabilityNames(/^CapEff:\s*(\w+)/m.exec(status)?.[1] ?? "0"), ["CAP_SYS_PTRACE"]);
    assert.match(status, /^NoNewPrivs:\s*1$/m);
    assert.equal(d.ok(["inspect", "-f", "{{.State.Running}} {{.RestartCount}}", NAME]).trim(), "true 0");
  } finally {
    d.run(["rm", "-f", NAME]);
    await sim.stop();
    await removeTree(powercap);
  }
});
