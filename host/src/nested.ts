import { existsSync } from "node:fs";
import { join } from "node:path";

/** Where RAPL is on a host. */
export const SYS_POWERCAP = "/sys/class/powercap";
/** Where a VM fed by scaph (or Scaphandre) finds its tree, as scaph-guest does. */
export const GUEST_TREE = "/var/scaphandre";

/**
 * The default --powercap-path of scaph-host: the host's RAPL zones, or, in
 * a VM that has none but has its tree from its own host (a guest that is a
 * hypervisor too: nested VMs, a Kubernetes node running KubeVirt, a CI
 * runner starting VMs), that tree, at SCAPHANDRE_POWERCAP_PATH or
 * /var/scaphandre. Its VMs then get their share of the guest's energy,
 * with the same sensor and split as on bare metal.
 */
export function hostPowercapPath(env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): string {
  const hasZone = (root: string): boolean => exists(join(root, "intel-rapl:0", "energy_uj")) || exists(join(root, "intel-rapl", "intel-rapl:0", "energy_uj"));
  if (hasZone(SYS_POWERCAP)) return SYS_POWERCAP;
  const tree = env.SCAPHANDRE_POWERCAP_PATH || GUEST_TREE;
  return hasZone(tree) ? tree : SYS_POWERCAP;
}
