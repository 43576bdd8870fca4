import { existsSync, readdirSync } from "node:fs";
import { readBounded } from "@scaph/common";

export interface PortRoots {
  /** sysfs root (default /sys). */
  sysRoot: string;
  /** devfs root (default /dev). */
  devRoot: string;
}

/**
 * The device of the virtio-serial port named `name`: the udev link
 * `/dev/virtio-ports/<name>` where udev runs, else the `vportNpM` whose
 * `/sys/class/virtio-ports/vportNpM/name` is `name` (a minimal guest without
 * udev). Null while there is none (not set up, or not hot-plugged yet).
 */
export function findPort(name: string, roots: PortRoots): string | null {
  const link = `${roots.devRoot}/virtio-ports/${name}`;
  if (existsSync(link)) return link;
  let ports: string[];
  try {
    ports = readdirSync(`${roots.sysRoot}/class/virtio-ports`);
  } catch {
    return null;
  }
  for (const p of ports.sort()) {
    if (!/^vport\d+p\d+$/.test(p)) continue;
    const r = readBounded(`${roots.sysRoot}/class/virtio-ports/${p}/name`, 256);
    if (r.ok && r.text.trim() === name && existsSync(`${roots.devRoot}/${p}`)) return `${roots.devRoot}/${p}`;
  }
  return null;
}
