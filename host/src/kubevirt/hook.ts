/**
 * KubeVirt's hook sidecar: the sidecar-shim runs `onDefineDomain --vmi
 * <VMI JSON> --domain <domain XML>` and takes its stdout as the domain XML
 * (KubeVirt's source, cmd/sidecars/sidecar_shim.go; no KubeVirt runs in
 * our tests). This adds scaph's channel, its socket in bind mode in the
 * VMI's private directory, which exists and which qemu (uid 107) may write.
 * A hook that fails stops the VM from starting: so anything it cannot read,
 * or must not change, comes out unchanged, with the reason on stderr.
 */
import { addChannel, findChannel } from "../vm/domain-xml.js";
import { errorMessage } from "@scaph/common";

/** The socket of scaph's channel in a KubeVirt VM: `/var/run/kubevirt-private/<vmi uid>/scaph-energy.sock`. */
export const KUBEVIRT_PRIVATE_DIR = "/var/run/kubevirt-private";
export const KUBEVIRT_CHANNEL_SOCKET = "scaph-energy.sock";

export interface HookResult {
  /** The XML to print: the input with the channel, or the input unchanged. */
  xml: string;
  /** Why the input came out unchanged (for stderr), or what was added. */
  message: string;
  changed: boolean;
}

/** The VMI's uid (metadata.uid), if the JSON holds a well-formed one. */
function vmiUid(vmiJson: string): string | null {
  let vmi: unknown;
  try {
    vmi = JSON.parse(vmiJson);
  } catch {
    return null;
  }
  const uid = (vmi as { metadata?: { uid?: unknown } } | null)?.metadata?.uid;
  return typeof uid === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uid) ? uid : null;
}

/** The socket path of scaph's channel for a VMI. */
export function kubevirtChannelPath(uid: string): string {
  return `${KUBEVIRT_PRIVATE_DIR}/${uid}/${KUBEVIRT_CHANNEL_SOCKET}`;
}

/** onDefineDomain: the domain XML with scaph's channel, or unchanged and why. Never throws. */
export function onDefineDomain(vmiJson: string, domainXml: string): HookResult {
  const unchanged = (why: string): HookResult => ({ xml: domainXml, message: `scaph onDefineDomain: domain XML left unchanged: ${why}`, changed: false });
  const uid = vmiUid(vmiJson);
  if (uid === null) return unchanged("--vmi holds no VMI with a metadata.uid");
  try {
    if (findChannel(domainXml) !== null) return unchanged("it already has scaph's channel");
    const edit = addChannel(domainXml, kubevirtChannelPath(uid));
    return { xml: edit.xml, message: `scaph onDefineDomain: ${edit.notes.join("; ")} at ${kubevirtChannelPath(uid)}`, changed: edit.changed };
  } catch (err) {
    return unchanged(errorMessage(err));
  }
}
