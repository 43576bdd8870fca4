/**
 * How a VM gets its energy: a tree shared over virtiofs or 9p (Scaphandre's
 * layout), or lines over a virtio-serial channel (see channel.ts), from which
 * the guest keeps its own tree.
 */
export type Transport = "virtiofs" | "9p" | "channel";
export const TRANSPORTS: readonly Transport[] = ["virtiofs", "9p", "channel"];
/** The transports that share a tree from the host. */
export type ShareTransport = Exclude<Transport, "channel">;
export const SHARE_TRANSPORTS: readonly ShareTransport[] = ["virtiofs", "9p"];
/** The tag the guest mounts: `mount -t virtiofs scaphandre /var/scaphandre`. */
export const SHARE_TAG = "scaphandre";
/** Where the guest mounts the tree (Scaphandre's --vm default, SCAPHANDRE_POWERCAP_PATH). */
export const GUEST_MOUNT_POINT = "/var/scaphandre";

/** Arguments of mount(8) for the share. */
export function guestMountArgs(t: ShareTransport, at = GUEST_MOUNT_POINT): string[] {
  return t === "virtiofs" ? ["-t", "virtiofs", SHARE_TAG, at] : ["-t", "9p", "-o", "trans=virtio,version=9p2000.L,ro", SHARE_TAG, at];
}

export function guestMountCommand(t: ShareTransport, at = GUEST_MOUNT_POINT): string {
  return ["mount", ...guestMountArgs(t, at)].join(" ");
}

export function guestFstabLine(t: ShareTransport, at = GUEST_MOUNT_POINT): string {
  return t === "virtiofs" ? `${SHARE_TAG} ${at} virtiofs defaults,nofail 0 0` : `${SHARE_TAG} ${at} 9p trans=virtio,version=9p2000.L,ro,nofail 0 0`;
}
