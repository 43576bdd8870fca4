import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { quiet, virsh } from "../helpers/libvirtd.js";
import type { LabImages } from "./images.js";

/** Domain XML of a lab guest: direct kernel boot, serial console to a file. */
export interface LabDomain {
  name: string;
  /** The accelerator, the kernel and the initramfs it boots (what labImages() gives). */
  image: Pick<LabImages, "type" | "vmlinuz" | "initrd">;
  cmdline: string;
  consoleFile: string;
  memoryMiB: number;
  /** 1 by default. */
  vcpus?: number;
  /** More devices, as XML (a virtio-serial controller for the channel). */
  devices?: string;
  /** What a reboot of the guest does (default: destroy, which ends a busybox lab guest's run). */
  onReboot?: "destroy" | "restart";
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/'/g, "&apos;");

export function labDomainXml(d: LabDomain): string {
  return `<domain type='${d.image.type}'>
  <name>${esc(d.name)}</name>
  <memory unit='MiB'>${d.memoryMiB}</memory>
  <vcpu>${d.vcpus ?? 1}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${esc(d.image.vmlinuz)}</kernel>
    <initrd>${esc(d.image.initrd)}</initrd>
    <cmdline>${esc(d.cmdline)}</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>${d.onReboot ?? "destroy"}</on_reboot>
  <devices>
    <serial type='file'>
      <source path='${esc(d.consoleFile)}' append='on'/>
      <target port='0'/>
    </serial>${
      d.devices
        ? `
    ${d.devices}`
        : ""
    }
  </devices>
</domain>
`;
}

/**
 * A lab guest's domain XML in DIR/NAME.xml, after any domain an earlier run
 * left under that name is destroyed and undefined; returns the file (to
 * `virsh create` or `define`).
 */
export function freshLabDomain(dir: string, d: LabDomain): string {
  quiet(() => virsh("destroy", d.name));
  quiet(() => virsh("undefine", d.name));
  const file = join(dir, `${d.name}.xml`);
  writeFileSync(file, labDomainXml(d));
  return file;
}
