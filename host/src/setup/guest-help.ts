import type { Transport } from "./domain-xml.js";
import { SHARE_TAG } from "./domain-xml.js";

export const GUEST_MOUNT_POINT = "/var/scaphandre";

export function guestMountCommand(t: Transport, at = GUEST_MOUNT_POINT): string {
  return t === "virtiofs" ? `mount -t virtiofs ${SHARE_TAG} ${at}` : `mount -t 9p -o trans=virtio,version=9p2000.L,ro ${SHARE_TAG} ${at}`;
}

export function guestFstabLine(t: Transport, at = GUEST_MOUNT_POINT): string {
  return t === "virtiofs"
    ? `${SHARE_TAG} ${at} virtiofs defaults,nofail 0 0`
    : `${SHARE_TAG} ${at} 9p trans=virtio,version=9p2000.L,ro,nofail 0 0`;
}

/** What to run inside the guest, printed by setup. */
export function guestInstructions(t: Transport): string {
  return [
    "In the guest, as root:",
    `  mkdir -p ${GUEST_MOUNT_POINT}`,
    `  ${guestMountCommand(t)}`,
    "To mount it at every boot, add to the guest's /etc/fstab:",
    `  ${guestFstabLine(t)}`,
    "Then run the guest agent, which reads the tree like a RAPL host:",
    `  scaph-guest prometheus          # or stdout / json; SCAPHANDRE_POWERCAP_PATH=${GUEST_MOUNT_POINT} is the default`,
    "  (as a service: systemd/scaph-guest.service from the scaph repository)",
  ].join("\n");
}
