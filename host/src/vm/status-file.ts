/**
 * The daemon's status file: its format, shared by the daemon that writes it
 * (qemu/status-sink.ts) and `scaph-host status` that reads it
 * (setup/status.ts).
 */

/** What `scaph-host status` shows of a VM's channel. */
export interface ChannelStatus {
  path: string;
  connected: boolean;
  /** Lines written since the daemon started attributing to the VM. */
  sent: number;
  /** Lines dropped because the guest had not read the one before. */
  dropped: number;
  epoch: string;
  /** The sequence number of the last line (sent or dropped). */
  seq: number;
  /** Its counters as last sent or dropped: zone id -> µJ since the epoch (package + dram is the VM's energy). */
  counters: Record<string, number>;
}

/** Written by the daemon each step in the base dir (host-only), read by `scaph-host status`. */
export const STATUS_FILE = ".scaph-status.json";

export interface DaemonStatus {
  timestamp_s: number;
  step_s: number;
  /** Steps since the daemon started. */
  steps: number;
  pid: number;
  /** /proc/PID/stat files its process table holds open (one pread each a step); absent before version 0.2. */
  proc_files_held?: number;
  vms: {
    name: string;
    uuid: string | null;
    power_uw: number;
    /** Whether it gets a tree, and whether the tree was written at this step. */
    tree: boolean;
    written: boolean;
    channel?: ChannelStatus;
    /** Where its domain's XML came from when not from this host's libvirt (a KubeVirt pod's), or why it could not be read. */
    libvirt_note?: string;
  }[];
  /** Domains whose qemu is here but which do not run here yet (an incoming live migration): no share, no lines. */
  incoming?: { name: string; uuid: string | null; pid: number }[];
}
