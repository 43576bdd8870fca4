/**
 * A cgroup shaped like a Kubernetes pod's container (a stand-in: no
 * Kubernetes runs here): kubepods.slice / kubepods-burstable.slice /
 * kubepods-burstable-pod<uid>.slice / cri-containerd-<id>.scope, on cgroup
 * v2, or on v1's pids hierarchy. A process written to its cgroup.procs is
 * "in the pod" for scaph's resolver (KubeVirt's qemu sits in its
 * virt-launcher pod's compute container).
 */
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";

export function kubepodsCgroup(podUid: string, containerId = "ab".repeat(32)): { procs: string; remove: () => void } {
  const base = existsSync("/sys/fs/cgroup/cgroup.procs") ? "/sys/fs/cgroup" : "/sys/fs/cgroup/pids";
  const parts = [
    "kubepods.slice",
    "kubepods-burstable.slice",
    `kubepods-burstable-pod${podUid.replace(/-/g, "_")}.slice`,
    `cri-containerd-${containerId}.scope`,
  ];
  const dir = join(base, ...parts);
  mkdirSync(dir, { recursive: true });
  return {
    procs: join(dir, "cgroup.procs"),
    remove: () => {
      for (let i = parts.length; i > 0; i--) {
        try {
          rmdirSync(join(base, ...parts.slice(0, i)));
        } catch {
          // still in use, or not made here
        }
      }
    },
  };
}
