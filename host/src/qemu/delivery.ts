import type { Sink } from "@scaph/common";
import type { ChannelStatus } from "../vm/status-file.js";

/** How a delivering sink's last step went for one VM: its tree written, or its channel connected. */
export type VmDelivery = { vm: string; transport: "tree"; ok: boolean } | { vm: string; transport: "channel"; ok: boolean; channel: ChannelStatus };

/**
 * A sink that delivers each VM its energy (the tree writer, the channel
 * writer), and says, in this one shape, how its last step went for each VM
 * it delivers to (by VM key). The status file and the delivery gauge collect
 * these outcomes; no sink reads another's state.
 */
export interface DeliverySink extends Sink {
  delivered(): ReadonlyMap<string, VmDelivery>;
}

/** The delivery gauge's name and help: `scaph_vm_delivery_ok{vmname,transport}`. */
export const DELIVERY_GAUGE = {
  name: "scaph_vm_delivery_ok",
  help: "Whether the daemon's last step delivered the VM's energy (tree written, channel connected): 1 or 0",
} as const;

/**
 * `scaph_vm_delivery_ok{vmname,transport}`: 1 when the daemon's last step
 * wrote the VM's tree (`tree`) or is connected to its channel (`channel`),
 * else 0; what an alert on stale VM trees reads.
 */
export function deliverySamples(sinks: readonly DeliverySink[]): { labels: { vmname: string; transport: "tree" | "channel" }; value: number }[] {
  return sinks.flatMap((s) => [...s.delivered().values()].map((d) => ({ labels: { vmname: d.vm, transport: d.transport }, value: d.ok ? 1 : 0 })));
}
