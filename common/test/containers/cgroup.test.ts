import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CGROUP_FILE_BOUND, ContainerSource, containerLabels, parseCgroup } from "../../src/index.js";
import type { CgroupContainer, ProcessInfo } from "../../src/index.js";
import { checkGolden, fixturesDir } from "@scaph/test-support";

const dir = join(fixturesDir(), "cgroup", "containers");

/**
 * What a process in each cgroup is labelled with before Docker or the API
 * answer (the path alone): each fixture as a process's cgroup file in a
 * /proc of its own, read by the ContainerSource that --containers runs.
 */
function pathLabels(files: string[]): Map<string, Record<string, string> | null> {
  const proc = mkdtempSync(join(tmpdir(), "scaph-cgroup-"));
  try {
    const processes = new Map<string, ProcessInfo>();
    files.forEach((f, i) => {
      mkdirSync(join(proc, String(i + 1)));
      copyFileSync(join(dir, f), join(proc, String(i + 1), "cgroup"));
      const key = `${i + 1}:1`;
      processes.set(key, {
        key,
        pid: i + 1,
        comm: "x",
        exe: "/x",
        cmdline: ["x"],
        startTicks: 1,
        execs: 0,
        cpuTicks: 0,
        prevCpuTicks: 0,
        rssPages: 0,
        vsizeBytes: 0,
      });
    });
    const lookup = new ContainerSource({ procRoot: proc }).resolve({ busyTicks: 0, uptimeS: 0, processes, hostStats: null, procFilesHeld: 0 });
    return new Map(
      files.map((f, i) => {
        const c = lookup(processes.get(`${i + 1}:1`) as ProcessInfo);
        return [f, c ? containerLabels(c, null) : null];
      }),
    );
  } finally {
    rmSync(proc, { recursive: true, force: true });
  }
}

test("every runtime's cgroup layout, v1 and v2, gives the container, pod UID and labels of the golden file", async () => {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cgroup"))
    .sort();
  assert.ok(files.length >= 20, `fixtures in ${dir}`);
  const out: Record<string, { parsed: CgroupContainer | null; labels: Record<string, string> | null }> = {};
  const labels = pathLabels(files);
  for (const f of files) out[f] = { parsed: parseCgroup(readFileSync(join(dir, f), "utf8")), labels: labels.get(f) ?? null };
  await checkGolden("containers/cgroup-layouts.json", JSON.stringify(out, null, 2) + "\n");
  // and what the golden file must say, whatever it holds
  for (const [f, { parsed }] of Object.entries(out)) {
    // a user's delegated subtree (user@UID.service: rootless containers, forged paths) and a machine's hold none of this host's containers
    if (["hostile-", "host-", "podman-conmon", "user-", "machine-"].some((p) => f.startsWith(p))) assert.equal(parsed, null, f);
    else assert.match(parsed?.id ?? "", /^[0-9a-f]{64}$/, f);
    if (f.startsWith("k8s-")) assert.equal(parsed?.podUid, "1c2e3a4b-5d6f-4a7b-8c9d-0e1f2a3b4c5d", f);
  }
  assert.equal(out["k8s-containerd-systemd-v2.cgroup"]?.parsed?.runtime, "containerd");
  assert.equal(out["k8s-crio-systemd-v2.cgroup"]?.parsed?.runtime, "cri-o");
  assert.equal(out["k8s-cgroupfs-v1.cgroup"]?.parsed?.runtime, null, "the cgroupfs driver's path does not name the runtime");
  assert.equal(out["podman-root-v2.cgroup"]?.labels?.container_scheduler, "podman");
  // the outermost container is the container: Docker in Docker is the outer one's, a sub-cgroup its container's
  assert.equal(out["docker-in-docker-v2.cgroup"]?.parsed?.id, out["docker-systemd-v2.cgroup"]?.parsed?.id);
  assert.deepEqual(out["k8s-cgroupfs-v2-subcgroup.cgroup"]?.parsed, out["k8s-cgroupfs-v2.cgroup"]?.parsed);
  assert.equal(out["docker-systemd-v1.cgroup"]?.labels?.container_scheduler, "docker");
});

test("hostile cgroup files: huge, a static pod's hash, bytes that are not UTF-8", () => {
  const id = "a".repeat(64);
  assert.equal(parseCgroup(`0::/docker/${id}\n`.padEnd(CGROUP_FILE_BOUND + 1, "x")), null, "over the bound: left out whole");
  assert.deepEqual(
    parseCgroup(`0::/docker/${id}/${"x/".repeat(100)}x`),
    { runtime: "docker", id, podUid: null },
    "a cgroup of its own below it: the container's",
  );
  assert.equal(parseCgroup(`0::/docker/${id}/${"x/".repeat(100)}`), null, "an empty component: not a path a kernel writes");
  assert.equal(parseCgroup("garbage without colons\n\n::\n0::"), null);
  // a static pod's cgroup names its config hash, which its mirror pod carries as an annotation
  const hash = "6c3a5f2b9e8d7c6b5a4f3e2d1c0b9a8f";
  assert.deepEqual(parseCgroup(`0::/kubepods/burstable/pod${hash}/${id}\n`), { runtime: null, id, podUid: hash });
  // a v1 file whose first line is a host path and a later one the container's
  assert.deepEqual(parseCgroup(`3:cpuset:/\n2:cpu:/docker/${id}\n`), { runtime: "docker", id, podUid: null });
});
