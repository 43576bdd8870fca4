import type { ProcessAnnotator } from "@scaph/common";
import { parseQemuCmdline } from "./cmdline.js";

/** --qemu: labels qemu processes with the name of their VM (`vmname`). */
export function qemuLabeler(enabled: boolean): ProcessAnnotator | undefined {
  if (!enabled) return undefined;
  return (p, info) => {
    const id = parseQemuCmdline(info.exe, info.cmdline);
    if (id?.name) p.vmname = id.name;
  };
}
