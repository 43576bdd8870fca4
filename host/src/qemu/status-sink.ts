import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { replaceFile, errorMessage } from "@scaph/common";
import type { Logger, Sink, Snapshot } from "@scaph/common";
import type { ChannelStatus, DaemonStatus } from "../vm/status-file.js";
import { STATUS_FILE } from "../vm/status-file.js";
export { STATUS_FILE } from "../vm/status-file.js";
export type { DaemonStatus } from "../vm/status-file.js";
import { treeWanted } from "./tree-sink.js";


/** The status file, a sink: what the daemon attributed and wrote at its last step. */
export class StatusSink implements Sink {
  readonly name = "status file";
  private steps = 0;
  private failing: string | null = null;
  /** What the last step delivered (the status file's content), for the delivery metric. */
  latest: DaemonStatus | null = null;

  constructor(
    private readonly o: { baseDir: string; log: Logger; written: ReadonlyMap<string, boolean>; channels?: () => ReadonlyMap<string, ChannelStatus> },
  ) {}

  write(s: Snapshot): void {
    const channels = this.o.channels?.();
    const status: DaemonStatus = {
      timestamp_s: Date.now() / 1000,
      step_s: s.intervalS,
      steps: ++this.steps,
      pid: process.pid,
      proc_files_held: s.procFilesHeld,
      vms: s.vms.map((v) => {
        const channel = channels?.get(v.key);
        return { name: v.name, uuid: v.uuid, power_uw: v.powerUw, tree: treeWanted(v), written: this.o.written.get(v.key) ?? false, ...(channel ? { channel } : {}), ...(v.libvirtNote ? { libvirt_note: v.libvirtNote } : {}) };
      }),
      incoming: s.incomingVms.map((v) => ({ name: v.name, uuid: v.uuid, pid: v.pid })),
    };
    this.latest = status;
    const file = join(this.o.baseDir, STATUS_FILE);
    try {
      mkdirSync(this.o.baseDir, { recursive: true });
      replaceFile(this.o.baseDir, STATUS_FILE, JSON.stringify(status) + "\n");
      if (this.failing !== null) this.o.log.info(`qemu: ${file} written again`);
      this.failing = null;
    } catch (err) {
      const msg = errorMessage(err);
      if (msg !== this.failing) this.o.log.warn(`qemu: cannot write ${file}: ${msg}`);
      this.failing = msg;
    }
  }
}

/** The daemon's delivery gauge: defined here, where its samples and their labels (vmname, transport) are made. */
export const DELIVERY_GAUGE = {
  name: "scaph_vm_delivery_ok",
  help: "Whether the daemon's last step delivered the VM's energy (tree written, channel connected): 1 or 0",
} as const;

/**
 * `scaph_vm_delivery_ok{vmname,transport}`: 1 when the daemon's last step
 * wrote the VM's tree (`tree`) or is connected to its channel (`channel`),
 * else 0; what an alert on stale VM trees reads.
 */
export function deliverySamples(status: DaemonStatus | null): { labels: { vmname: string; transport: "tree" | "channel" }; value: number }[] {
  const out: ReturnType<typeof deliverySamples> = [];
  for (const v of status?.vms ?? []) {
    if (v.tree) out.push({ labels: { vmname: v.name, transport: "tree" }, value: v.written ? 1 : 0 });
    if (v.channel) out.push({ labels: { vmname: v.name, transport: "channel" }, value: v.channel.connected ? 1 : 0 });
  }
  return out;
}
