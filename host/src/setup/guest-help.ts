import { GUEST_MOUNT_POINT, guestFstabLine, guestMountCommand } from "@scaph/common";
import type { Transport } from "@scaph/common";

/** What to run inside the guest, printed by setup. */
export function guestInstructions(t: Transport): string {
  return [
    "In the guest, as root:",
    `  mkdir -p ${GUEST_MOUNT_POINT}`,
    `  ${guestMountCommand(t)}          (or: scaph-guest mount --transport ${t})`,
    "To mount it at every boot, add to the guest's /etc/fstab:",
    `  ${guestFstabLine(t)}`,
    "Then run the guest agent, which reads the tree like a RAPL host:",
    `  scaph-guest prometheus          # or stdout / json; SCAPHANDRE_POWERCAP_PATH=${GUEST_MOUNT_POINT} is the default`,
    "  (as a service: systemd/scaph-guest.service from the scaph repository)",
  ].join("\n");
}
