import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { replaceFile, errorMessage } from "@scaph/common";
import type { Logger, Sink, Snapshot } from "@scaph/common";
import type { DaemonStatus } from "../vm/status-file.js";
import { STATUS_FILE } from "../vm/status-file.js";
import type { DeliverySink } from "./delivery.js";

/**
 * The status file, a sink: what the daemon attributed at its last step, and
 * what the delivering sinks (handed to it, run before it) say they
 * delivered to each VM at that step.
 */
export class StatusSink implements Sink {
  readonly name = "status file";
  private steps = 0;
  private failing: string | null = null;

  constructor(private readonly options: { baseDir: string; log: Logger; deliveries: readonly DeliverySink[] }) {}

  write(s: Snapshot): void {
    const outcomes = this.options.deliveries.map((d) => d.delivered());
    const status: DaemonStatus = {
      timestamp_s: Date.now() / 1000,
      step_s: s.intervalS,
      steps: ++this.steps,
      pid: process.pid,
      proc_files_held: s.procFilesHeld,
      vms: s.vms.map((v) => {
        const got = outcomes.map((outcome) => outcome.get(v.key));
        const tree = got.find((d) => d?.transport === "tree");
        const channel = got.find((d) => d?.transport === "channel");
        return {
          name: v.name,
          uuid: v.uuid,
          power_uw: v.powerUw,
          tree: tree !== undefined,
          written: tree?.ok ?? false,
          ...(channel?.transport === "channel" ? { channel: channel.channel } : {}),
          ...(v.libvirtNote ? { libvirt_note: v.libvirtNote } : {}),
        };
      }),
      incoming: s.incomingVms.map((v) => ({ name: v.name, uuid: v.uuid, pid: v.pid })),
    };
    const file = join(this.options.baseDir, STATUS_FILE);
    try {
      mkdirSync(this.options.baseDir, { recursive: true });
      replaceFile(this.options.baseDir, STATUS_FILE, JSON.stringify(status) + "\n");
      if (this.failing !== null) this.options.log.info(`qemu: ${file} written again`);
      this.failing = null;
    } catch (err) {
      const msg = errorMessage(err);
      if (msg !== this.failing) this.options.log.warn(`qemu: cannot write ${file}: ${msg}`);
      this.failing = msg;
    }
  }
}
