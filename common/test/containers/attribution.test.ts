import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ContainerSource, formatStdout, MetricsModel, toJsonReport } from "../../src/index.js";
import { checkGolden, fixtureRig } from "@scaph/test-support";
import { riemannEvents } from "../../src/exporters/riemann/sink.js";
import { gtsLines } from "../../src/exporters/push/warp10.js";

const A = "a".repeat(64);
const B = "b".repeat(64);
const POD = "1c2e3a4b-5d6f-4a7b-8c9d-0e1f2a3b4c5d";

/** nginx (100) and postgres (300) in one Docker container, the python script (200) in a pod, init (1) on the host. */
async function containerRig() {
  const rig = await fixtureRig("intel-2socket-psys", "proc/basic", { containers: (procRoot) => new ContainerSource({ procRoot }) });
  const cg = (pid: number, path: string): Promise<void> => writeFile(join(rig.procRoot, String(pid), "cgroup"), `0::${path}\n`);
  await cg(1, "/init.scope");
  await cg(100, `/system.slice/docker-${A}.scope`);
  await cg(300, `/system.slice/docker-${A}.scope`);
  await cg(200, `/kubepods/burstable/pod${POD}/${B}`);
  return rig;
}

async function step(rig: Awaited<ReturnType<typeof containerRig>>) {
  await rig.power.advance("intel-rapl:0", 30_000_001);
  await rig.power.advance("intel-rapl:1", 10_000_000);
  await rig.power.advance("intel-rapl:2", 60_000_000);
  await rig.proc.advanceBusy(400);
  await rig.proc.advanceProcess(100, 150, 50);
  await rig.proc.advanceProcess(200, 100);
  await rig.proc.advanceProcess(300, 13);
  rig.advanceClock(2);
  return rig.meter.measure();
}

test("containers: each one's energy is exactly its processes', from the one attribution pass", async () => {
  const rig = await containerRig();
  try {
    const s = await step(rig);
    assert.ok(s.containers, "resolved");
    const byId = new Map(s.containers.map((c) => [c.container.id, c]));
    const e = (pid: number): number => s.processes.find((p) => p.pid === pid)?.energyUj ?? NaN;
    assert.equal(byId.get(A)?.energyUj, e(100) + e(300));
    assert.equal(byId.get(A)?.processes, 2);
    assert.equal(byId.get(B)?.energyUj, e(200));
    assert.equal(byId.get(A)?.powerUw, (e(100) + e(300)) / 2, "µW over the 2 s interval");
    assert.equal(byId.get(B)?.container.scheduler, "kubernetes");
    assert.equal(byId.get(B)?.container.podUid, POD);
    assert.equal(s.processes.find((p) => p.pid === 1)?.container, undefined);
    assert.equal(s.processes.find((p) => p.pid === 300)?.container, byId.get(A)?.container, "one object per container, shared by its processes");
    assert.deepEqual(
      s.containers.map((c) => c.container.id),
      [A, B],
      "highest energy first",
    );
    // nothing made or lost: containers + the other processes = every process's energy
    const others = s.processes.filter((p) => !p.container).reduce((a, p) => a + p.energyUj, 0);
    assert.equal(s.containers.reduce((a, c) => a + c.energyUj, 0) + others, s.attributedUj);
  } finally {
    await rig.cleanup();
  }
});

test("containers: a process's cgroup is read once per exec; one that execs into a container is read again", async () => {
  const rig = await containerRig();
  try {
    await step(rig);
    // moved without an exec (what a runtime never does to a running process): the cached answer stands
    await writeFile(join(rig.procRoot, "1", "cgroup"), `0::/docker/${B}\n`);
    let s = await step(rig);
    assert.equal(s.processes.find((p) => p.pid === 1)?.container, undefined);
    // an exec (comm and exe change; a new comm alone is a rename): read again
    const stat = join(rig.procRoot, "1", "stat");
    const { readFile, rm, symlink } = await import("node:fs/promises");
    await writeFile(stat, (await readFile(stat, "utf8")).replace("(systemd)", "(runc:[2:INIT])"));
    await rm(join(rig.procRoot, "1", "exe"));
    await symlink("/usr/bin/runc", join(rig.procRoot, "1", "exe"));
    s = await step(rig);
    assert.equal(s.processes.find((p) => p.pid === 1)?.container?.id, B);
  } finally {
    await rig.cleanup();
  }
});

test("containers in every exporter: the process and container series' labels, stdout and JSON (golden)", async () => {
  const rig = await containerRig();
  try {
    const s = await step(rig);
    const model = new MetricsModel({ filter: { kind: "top", n: Infinity }, qemu: false, cmdlineMax: 0, containers: { labelKeys: null } });
    model.update(s);
    assert.ok(model.names().includes("scaph_container_power_microwatts"));
    const nginx = model.samples("scaph_process_power_consumption_microwatts").find((x) => x.labels.pid === "100");
    assert.deepEqual(nginx?.labels, { pid: "100", exe: "nginx", container_scheduler: "docker", container_id: A, container_runtime: "docker" });
    const pod = model.samples("scaph_container_power_microwatts").find((x) => x.labels.container_id === B);
    assert.deepEqual(pod?.labels, { container_scheduler: "kubernetes", container_id: B });
    const energy = model.samples("scaph_container_energy_microjoules").find((x) => x.labels.container_id === A);
    assert.equal(energy?.value, s.containers?.[0]?.energyUj);
    // the sending exporters: Riemann's attributes, Warp 10's labels
    const ev = riemannEvents(model, s.timestampS, "h").find(
      (e) => e.service === "scaph_container_power_microwatts" && e.attributes?.some((a) => a.key === "container_id" && a.value === A),
    );
    assert.ok(ev, "a Riemann event per container");
    assert.ok(gtsLines(model, 1).some((l) => l.includes(`scaph_container_energy_joules_total{container_scheduler=docker,container_id=${A}`)));
    // without --containers: neither labels nor series
    const plain = new MetricsModel({ filter: { kind: "top", n: Infinity }, qemu: false, cmdlineMax: 0 });
    plain.update(s);
    assert.ok(!plain.names().some((n) => n.startsWith("scaph_container_")));
    assert.equal(plain.samples("scaph_process_power_consumption_microwatts").find((x) => x.labels.pid === "100")?.labels.container_id, undefined);
    await checkGolden("stdout/containers.txt", formatStdout(s, { kind: "top", n: 4 }));
    const json = toJsonReport(s, { kind: "container", re: /^$/, source: "" });
    assert.deepEqual(json.consumers, [], "no container has a name yet: none matches a name");
    const top = toJsonReport(s, { kind: "top", n: 4 });
    assert.deepEqual(top.consumers.find((c) => c.pid === 100)?.container, { name: "", id: A, runtime: "docker", scheduler: "docker" });
    assert.equal(top.consumers.find((c) => c.pid === 1)?.container, null);
  } finally {
    await rig.cleanup();
  }
});

test("a forged cgroup path (hostile round 3, item 9): a user's process naming Docker container A, or a pod, under its own user@UID.service is no container, and A's sum is A's", async () => {
  const rig = await containerRig();
  try {
    const forged = (pid: number, path: string): Promise<void> =>
      writeFile(join(rig.procRoot, String(pid), "cgroup"), `0::/user.slice/user-1000.slice/user@1000.service${path}\n`);
    await forged(300, `/app.slice/docker-${A}.scope`);
    await forged(200, `/kubepods/besteffort/pod${POD}/${B}`);
    const s = await step(rig);
    const e = (pid: number): number => s.processes.find((p) => p.pid === pid)?.energyUj ?? NaN;
    assert.deepEqual(
      s.containers?.map((c) => [c.container.id, c.energyUj, c.processes]),
      [[A, e(100), 1]],
      "A is nginx alone; no pod",
    );
    assert.equal(s.processes.find((p) => p.pid === 300)?.container, undefined);
    assert.equal(s.processes.find((p) => p.pid === 200)?.container, undefined);
    assert.ok(e(300) > 0, "the forging process still gets its energy, as a process");
  } finally {
    await rig.cleanup();
  }
});

test("one container id under two pod UIDs (hostile round 3, item 10): one series per family, their sum, accepted by promtool's parser", async () => {
  const rig = await containerRig();
  try {
    await writeFile(join(rig.procRoot, "300", "cgroup"), `0::/kubepods/besteffort/pod${"9".repeat(8)}-9999-4999-8999-${"9".repeat(12)}/${B}\n`);
    const s = await step(rig);
    const bs = s.containers?.filter((c) => c.container.id === B) ?? [];
    assert.equal(bs.length, 2, "two containers in the Snapshot: their cgroup paths differ");
    const m = new MetricsModel({ filter: { kind: "top", n: 0 }, qemu: false, containers: { labelKeys: null } });
    m.update(s);
    for (const name of ["scaph_container_power_microwatts", "scaph_container_energy_microjoules", "scaph_container_energy_joules_total"]) {
      const samples = m.samples(name).filter((x) => x.labels.container_id === B);
      assert.equal(samples.length, 1, `${name}: ${JSON.stringify(samples)}`);
    }
    const sum = bs.reduce((a, c) => a + c.energyUj, 0);
    assert.equal(m.samples("scaph_container_energy_microjoules").find((x) => x.labels.container_id === B)?.value, sum);
  } finally {
    await rig.cleanup();
  }
});
