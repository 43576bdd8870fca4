/** scaph-guest: filled by a later issue (reads the tree the host shares). */
export const DEFAULT_GUEST_POWERCAP_PATH = "/var/scaphandre";
