import { CHANNEL_NAME, GUEST_MOUNT_POINT, guestFstabLine, guestMountCommand } from "@scaph/common";
import type { Transport } from "@scaph/common";

/** What to run inside the guest, printed by setup. */
export function guestInstructions(t: Transport): string {
  if (t === "channel") {
    return [
      `In the guest: the channel is the virtio-serial port ${CHANNEL_NAME} (kernel module virtio_console,`,
      `loaded by every mainstream distribution), /dev/virtio-ports/${CHANNEL_NAME} where udev runs.`,
      "Run the guest agent, which keeps the tree at /var/scaphandre from the host's lines:",
      "  scaph-guest channel              # the receiver alone (node_exporter, Scaphandre --vm... read its tree)",
      "  scaph-guest prometheus           # or stdout / json: they run the receiver themselves when the port exists",
      "  (as a service: the scaph-guest package's units)",
    ].join("\n");
  }
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
