/**
 * --containers against a real Docker Engine (Debian's dockerd, started
 * here with no network; the image is busybox-static's binary, imported):
 * two containers burn different CPU, and scaph-host labels their processes
 * with their ids and names, splits the host's energy between them in the
 * ratio of the CPU time the kernel's own cgroup accounting gives them, and
 * drops a container removed mid-run from the exposition.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { busyboxImage, startDocker } from "../helpers/docker.js";
import type { Docker } from "../helpers/docker.js";
import { hostBin, runNode } from "../helpers/cli.js";
import { waitFor } from "../helpers/processes.js";
import { promtoolProblems, sample, scrape, startPrometheusOf } from "../helpers/scrape.js";

const SOCKET = "/var/lib/scaph-test-docker/docker.sock";

/** CPU time of a Docker container from its cgroup (cgroupfs driver, v1 or v2), in ns. */
function cgroupCpuNs(id: string): number {
  for (const f of [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, `/sys/fs/cgroup/cpu,cpuacct/docker/${id}/cpuacct.usage`]) {
    if (existsSync(f)) return Number(readFileSync(f, "utf8").trim());
  }
  for (const f of [`/sys/fs/cgroup/docker/${id}/cpu.stat`, `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`]) {
    if (existsSync(f)) return 1000 * Number(/^usage_usec (\d+)$/m.exec(readFileSync(f, "utf8"))?.[1]);
  }
  throw new Error(`no CPU accounting found for container ${id} under /sys/fs/cgroup`);
}

async function burner(d: Docker, image: string, name: string, cpus: string): Promise<{ id: string; pid: number }> {
  d.run(["rm", "-f", name]);
  const id = d
    .ok([
      "run",
      "-d",
      "--name",
      name,
      "--network",
      "none",
      "--cpus",
      cpus,
      "--label",
      "team=energy",
      "--label",
      "com.example.tier=batch",
      image,
      "sh",
      "-c",
      "while :; do :; done",
    ])
    .trim();
  const pid = Number(d.ok(["inspect", "-f", "{{.State.Pid}}", id]).trim());
  return { id, pid };
}

test("--containers with a real Docker Engine: ids and names on the processes, the energy split in the ratio of the containers' CPU time, a removed container leaves", async (t) => {
  const d = await startDocker();
  const image = busyboxImage(d);
  const a = await burner(d, image, "scaph-burn-full", "1.0");
  const b = await burner(d, image, "scaph-burn-third", "0.3");
  const { bg, url } = await startPrometheusOf(hostBin, [
    "--step",
    "1",
    "--sensor",
    "estimate",
    "--containers",
    "--docker-socket",
    SOCKET,
    "--container-labels",
    "^team$",
    "-v",
  ]);
  try {
    // Docker answered: the names are on the per-container series
    let body = await waitFor(
      "both containers' series with their Docker names",
      async () => {
        const s = await scrape(url);
        return sample(s, "scaph_container_power_microwatts", 'container_names="scaph-burn-full"') !== null &&
          sample(s, "scaph_container_power_microwatts", 'container_names="scaph-burn-third"') !== null
          ? s
          : null;
      },
      60_000,
    );
    const version = d.ok(["version", "--format", "{{.Server.Version}}"]).trim();
    for (const [c, name] of [
      [a, "scaph-burn-full"],
      [b, "scaph-burn-third"],
    ] as const) {
      const line = body.split("\n").find((l) => l.startsWith("scaph_process_power_consumption_microwatts{") && l.includes(`pid="${c.pid}"`));
      assert.ok(line, `the burner's process ${c.pid} has a series`);
      for (const label of [
        `container_id="${c.id}"`,
        `container_names="${name}"`,
        `container_scheduler="docker"`,
        `container_runtime="docker"`,
        `container_docker_version="${version}"`,
        `container_label_team="energy"`,
      ]) {
        assert.ok(line.includes(label), `${label} in ${line}`);
      }
      assert.ok(!line.includes("container_label_com_example_tier"), "only the labels --container-labels asks for");
    }
    assert.deepEqual(promtoolProblems(body), []);

    // the energy split: scaph's per-container energy against the kernel's per-container CPU time, same window
    const energy = (s: string, id: string): number => sample(s, "scaph_container_energy_microjoules", `container_id="${id}"`) ?? NaN;
    const e0 = { a: energy(body, a.id), b: energy(body, b.id) };
    const c0 = { a: cgroupCpuNs(a.id), b: cgroupCpuNs(b.id) };
    const stepsAt = sample(body, "scaph_self_last_step_timestamp_seconds") ?? 0;
    body = await waitFor(
      "8 more steps",
      async () => {
        const s = await scrape(url);
        return (sample(s, "scaph_self_last_step_timestamp_seconds") ?? 0) >= stepsAt + 8 ? s : null;
      },
      60_000,
    );
    const c1 = { a: cgroupCpuNs(a.id), b: cgroupCpuNs(b.id) };
    const e1 = { a: energy(body, a.id), b: energy(body, b.id) };
    const energyRatio = (e1.a - e0.a) / (e1.b - e0.b);
    const cpuRatio = (c1.a - c0.a) / (c1.b - c0.b);
    t.diagnostic(
      `energy ${((e1.a - e0.a) / 1e6).toFixed(2)} J vs ${((e1.b - e0.b) / 1e6).toFixed(2)} J: ratio ${energyRatio.toFixed(3)}; the cgroups' CPU time ratio ${cpuRatio.toFixed(3)}`,
    );
    assert.ok(cpuRatio > 1.5, `the two containers burn different CPU (${cpuRatio})`);
    assert.ok(Math.abs(energyRatio / cpuRatio - 1) < 0.1, `energy ratio ${energyRatio} within 10% of the CPU time ratio ${cpuRatio}`);

    // the JSON exporter's container object, as Scaphandre's (name, id, runtime, scheduler)
    const json = await runNode(hostBin, [
      "json",
      "--sensor",
      "estimate",
      "--containers",
      "--docker-socket",
      SOCKET,
      "-t",
      "4",
      "-s",
      "1",
      "--container-regex",
      "^scaph-burn-",
    ]);
    assert.equal(json.code, 0, json.stderr);
    const reports = JSON.parse(json.stdout) as {
      consumers: { pid: number; container: { name: string; id: string; runtime: string; scheduler: string } | null }[];
    }[];
    const consumers = reports.flatMap((r) => r.consumers);
    const burnerA = consumers.find((c) => c.pid === a.pid);
    assert.deepEqual(burnerA?.container, { name: "scaph-burn-full", id: a.id, runtime: "docker", scheduler: "docker" });
    assert.ok(
      consumers.every((c) => c.container !== null && c.container.name.startsWith("scaph-burn-")),
      "--container-regex lists only those containers' processes",
    );

    // a container removed mid-run leaves the exposition: its power at once, its counter after a few steps
    d.ok(["rm", "-f", b.id]);
    const gone = Date.now();
    body = await waitFor(
      "the removed container's series to leave",
      async () => {
        const s = await scrape(url);
        return !s.includes(b.id) ? s : null;
      },
      60_000,
    );
    t.diagnostic(`the removed container left the exposition ${Date.now() - gone} ms after docker rm`);
    assert.ok(sample(body, "scaph_container_power_microwatts", `container_id="${a.id}"`) !== null, "the other one stays");
    assert.doesNotMatch(bg.output(), /WARN|ERROR/, "nothing to warn about with a working Docker");
  } finally {
    await bg.stop();
    for (const c of [a, b]) d.run(["rm", "-f", c.id]);
    await d.stop();
  }
});

test("--containers with the Docker socket absent: ids and runtimes from the cgroups, one WARN, no missed step", async () => {
  const d = await startDocker();
  const image = busyboxImage(d);
  const a = await burner(d, image, "scaph-burn-nosocket", "0.5");
  const { bg, url } = await startPrometheusOf(hostBin, [
    "--step",
    "0.5",
    "--sensor",
    "estimate",
    "--containers",
    "--docker-socket",
    join(SOCKET, "..", "absent.sock"),
  ]);
  try {
    const first = await waitFor(
      "the container's series",
      async () => {
        const s = await scrape(url);
        return sample(s, "scaph_container_power_microwatts", `container_id="${a.id}"`) !== null ? s : null;
      },
      30_000,
    );
    const line = first.split("\n").find((l) => l.startsWith("scaph_container_power_microwatts{") && l.includes(a.id)) ?? "";
    assert.ok(line.includes('container_runtime="docker"') && !line.includes("container_names"), line);
    const t0 = sample(first, "scaph_self_last_step_timestamp_seconds") ?? 0;
    await waitFor("10 more steps", async () => ((sample(await scrape(url), "scaph_self_last_step_timestamp_seconds") ?? 0) >= t0 + 5 ? true : null), 60_000);
    const warns = bg
      .output()
      .split("\n")
      .filter((l) => l.includes(" WARN "));
    assert.equal(warns.length, 1, `one WARN for the absent socket, whatever the retries: ${warns.join("\n")}`);
    assert.match(warns[0] ?? "", /absent\.sock/);
  } finally {
    await bg.stop();
    d.run(["rm", "-f", a.id]);
    await d.stop();
  }
});
