/**
 * What a node agent can tell of a KubeVirt VM from its qemu process alone
 * (KubeVirt's source, not a running cluster): qemu runs in the compute
 * container of a virt-launcher pod, in the pod's cgroup (libvirt makes no
 * machine.slice scope there), as uid 107, with `-name guest=<namespace>_<vmi>`.
 */

/** The metric labels of a KubeVirt VM. */
export const KUBEVIRT_NAMESPACE_LABEL = "kubevirt_namespace";
export const KUBEVIRT_VMI_LABEL = "kubevirt_vmi";
/** The uid of qemu in KubeVirt's virt-launcher (root mode too: its qemu.conf's user "qemu"). */
export const KUBEVIRT_QEMU_UID = 107;

/** A Kubernetes namespace: a DNS-1123 label. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A VMI's name: a DNS-1123 subdomain. */
const VMI = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * The namespace and VMI of a KubeVirt domain name, `<namespace>_<vmi>`: split
 * at the first `_` (a namespace has none), each part as Kubernetes allows
 * it; null for any other name.
 */
export function kubevirtIdentity(domain: string): { namespace: string; vmi: string } | null {
  const i = domain.indexOf("_");
  if (i <= 0) return null;
  const namespace = domain.slice(0, i);
  const vmi = domain.slice(i + 1);
  return NAMESPACE.test(namespace) && VMI.test(vmi) ? { namespace, vmi } : null;
}

/** Whether a /proc/PID/cgroup puts the process in a Kubernetes pod (a `kubepods` cgroup, systemd or cgroupfs driver). */
export function inPod(procCgroup: string): boolean {
  for (const line of procCgroup.split("\n")) {
    const path = line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
    if (/(^|\/)kubepods([-./]|$)/.test(path)) return true;
  }
  return false;
}

/** The labels of a VM whose qemu is in a pod and whose name is a KubeVirt domain name; none otherwise. */
export function kubevirtLabels(domain: string, podded: boolean): Record<string, string> {
  const id = podded ? kubevirtIdentity(domain) : null;
  return id ? { [KUBEVIRT_NAMESPACE_LABEL]: id.namespace, [KUBEVIRT_VMI_LABEL]: id.vmi } : {};
}
