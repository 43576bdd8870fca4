/**
 * Containers inside a VM: scaph-guest --containers over a VM tree (a
 * fixture tree stands in for the one the host writes) with real Docker
 * containers on this machine. The containers split the VM's energy, and
 * what they get, what the other processes get and what no process gets add
 * up to the tree's gain, to the microjoule.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ContainerSource, createSensor, DockerApi, Meter, ProcessTable, silentLogger } from "@scaph/common";
import { copyFixture, PowercapFixture, removeTree } from "@scaph/test-support";
import { busyboxImage, startDocker } from "../helpers/docker.js";
import { guestBin, runNode } from "../helpers/cli.js";
import { waitFor } from "../helpers/processes.js";

const SOCKET = "/var/lib/scaph-test-docker/docker.sock";
const utime = (pid: number): number => {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
};

test("scaph-guest --containers: the VM's energy split among its containers, adding up to the tree's to the µJ", async (t) => {
  const d = await startDocker();
  const image = busyboxImage(d);
  const names = ["scaph-guest-burn-a", "scaph-guest-burn-b"];
  const pids: number[] = [];
  const ids: string[] = [];
  for (const [i, name] of names.entries()) {
    d.run(["rm", "-f", name]);
    const id = d.ok(["run", "-d", "--name", name, "--network", "none", "--cpus", i === 0 ? "0.8" : "0.4", image, "sh", "-c", "while :; do :; done"]).trim();
    ids.push(id);
    pids.push(Number(d.ok(["inspect", "-f", "{{.State.Pid}}", id]).trim()));
  }
  const tree = await copyFixture("powercap/vm-tree");
  const docker = new DockerApi(SOCKET, silentLogger);
  try {
    // the guest's own code: its sensor on the tree, this machine's /proc, the containers' resolver
    const sensor = await createSensor({ sensor: "powercap_rapl", powercapPath: tree, procfsPath: "/proc", log: silentLogger });
    const containers = new ContainerSource({ procRoot: "/proc", docker: () => docker, log: silentLogger });
    const m = new Meter(sensor, new ProcessTable({ procRoot: "/proc" }), { containers });
    m.prime();
    await waitFor("Docker's list", () => (docker.container(ids[0] as string) ? true : null), 30_000);
    const before = pids.map(utime);
    const power = new PowercapFixture(tree);
    await power.advance("intel-rapl:0", 7_654_321);
    await power.advance("intel-rapl:0:1", 1_234_567);
    await waitFor("both burners to run 20 ticks", () => (pids.every((p, i) => utime(p) - (before[i] as number) >= 20) ? true : null), 30_000);
    const s = m.measure();
    const tree_ = 7_654_321 + 1_234_567;
    assert.equal(s.host.energyUj, tree_, "the host is the VM: its energy is the tree's gain");
    const mine = (s.containers ?? []).filter((c) => ids.includes(c.container.id));
    assert.equal(mine.length, 2, "both containers");
    for (const c of mine) assert.deepEqual(c.container.names, [names[ids.indexOf(c.container.id)]]);
    const inContainers = (s.containers ?? []).reduce((a, c) => a + c.energyUj, 0);
    const procsIn = s.processes.filter((p) => p.container).reduce((a, p) => a + p.energyUj, 0);
    const procsOut = s.processes.filter((p) => !p.container).reduce((a, p) => a + p.energyUj, 0);
    assert.equal(inContainers, procsIn, "a container's energy is its processes', µJ for µJ");
    assert.equal(inContainers + procsOut + (s.host.energyUj - s.attributedUj), tree_, "containers + other processes + unattributed = the tree's gain");
    assert.ok(Number.isInteger(inContainers) && inContainers > 0);
    const [a, b] = ids.map((id) => mine.find((c) => c.container.id === id) as (typeof mine)[number]);
    t.diagnostic(
      `tree ${tree_} µJ: containers ${inContainers} µJ (a ${a?.energyUj}, b ${b?.energyUj}), other processes ${procsOut} µJ, unattributed ${s.host.energyUj - s.attributedUj} µJ`,
    );
    m.close();

    // and through the scaph-guest binary: the JSON container object
    const r = await runNode(guestBin, ["json", "--containers", "--docker-socket", SOCKET, "-t", "3", "-s", "1", "--container-regex", "^scaph-guest-burn-"], {
      env: { ...process.env, SCAPHANDRE_POWERCAP_PATH: tree },
    });
    assert.equal(r.code, 0, r.stderr);
    const consumers = (JSON.parse(r.stdout) as { consumers: { pid: number; container: { name: string; scheduler: string } | null }[] }[]).flatMap(
      (x) => x.consumers,
    );
    assert.ok(
      consumers.some((c) => c.pid === pids[0] && c.container?.name === names[0] && c.container?.scheduler === "docker"),
      r.stdout.slice(0, 2000),
    );
  } finally {
    docker.close();
    for (const id of ids) d.run(["rm", "-f", id]);
    await d.stop();
    await removeTree(tree);
  }
});
