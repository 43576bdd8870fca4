/**
 * `npm run lab -- <command>`: the lab's pieces by hand, for a developer
 * who wants to boot a guest of their own or read a console the test kept.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "@scaph/common";
import { repoRoot } from "../helpers/cli.js";
import { domainType } from "./accel.js";
import { consoleProbes, consoleReports, parseConsole } from "./console.js";
import { labDomainXml } from "./domain.js";
import { buildInitramfs, staticBusybox } from "./initramfs.js";
import { fetchKernel } from "./kernel.js";
import { ensureLibvirtd } from "../helpers/libvirtd.js";
import { ensurePackages } from "./packages.js";

const CACHE = process.env.SCAPH_LAB_CACHE ?? "/var/cache/scaph-lab";
const program = new Command("lab").description("the real-VM lab's pieces, one at a time (npm run test:lab runs them all)");

program
  .command("packages")
  .description("install the Debian packages the lab needs (as root), printing those it installs")
  .action(() => {
    ensurePackages();
    console.log("lab packages: all installed");
  });

program
  .command("kernel")
  .description(`fetch Debian's kernel and the guest's modules into the cache (${CACHE}, or SCAPH_LAB_CACHE); print their paths`)
  .action(() => {
    const k = fetchKernel(CACHE);
    console.log(k.vmlinuz);
    for (const m of k.modules) console.log(m);
  });

program
  .command("initramfs")
  .description("build the guests' initramfs (busybox, modules, node, scaph-guest; run npm run build first)")
  .argument("<output>", "the gzip'd cpio to write")
  .option("--staging <dir>", "where the image's tree is assembled", "/tmp/scaph-lab-root")
  .action((output: string, o: { staging: string }) => {
    const k = fetchKernel(CACHE);
    buildInitramfs({
      output,
      staging: o.staging,
      busybox: staticBusybox(),
      modules: k.modules,
      nodeBinary: process.execPath,
      repoRoot,
      init: readFileSync(join(repoRoot, "test", "lab", "init.sh"), "utf8"),
    });
    console.log(`${output} (kernel: ${k.vmlinuz})`);
  });

program
  .command("accel")
  .description("the domain type the guests can use: kvm only if the CPU shows vmx/svm and a KVM guest boots")
  .action(async () => {
    const { type, why } = await domainType();
    console.log(`${type}: ${why}`);
  });

program
  .command("libvirtd")
  .description("start virtlogd and libvirtd by hand if qemu:///system does not answer (left running)")
  .action(async () => {
    const d = await ensureLibvirtd();
    console.log(d.startedHere ? "started virtlogd and libvirtd" : "libvirtd already answers");
  });

program
  .command("domain-xml")
  .description("print a lab guest's domain XML (virsh define it, then scaph-host setup NAME)")
  .argument("<name>")
  .requiredOption("--kernel <vmlinuz>")
  .requiredOption("--initrd <file>")
  .requiredOption("--console <file>", "where the serial console is written")
  .option("--transport <t>", "virtiofs or 9p, for the guest's /init", "virtiofs")
  .option("--mode <m>", "busy or idle", "idle")
  .option("--seconds <s>", "how long scaph-guest runs", "40")
  .option("--step <s>", "scaph-guest's step", "2")
  .option("--vcpus <n>", "vCPUs", "1")
  .action(async (name: string, o: Record<string, string>) => {
    const { type } = await domainType();
    process.stdout.write(
      labDomainXml({
        name,
        image: { type, vmlinuz: o.kernel!, initrd: o.initrd! },
        consoleFile: o.console!,
        memoryMiB: 1024,
        vcpus: Number(o.vcpus),
        cmdline: `console=ttyS0 quiet panic=-1 scaph.transport=${o.transport} scaph.mode=${o.mode} scaph.seconds=${o.seconds} scaph.step=${o.step}`,
      }),
    );
  });

program
  .command("console")
  .description("summarize a guest's console: its events, probes and reports")
  .argument("<file>")
  .action((file: string) => {
    const ev = parseConsole(readFileSync(file, "utf8"));
    const kinds = new Map<string, number>();
    for (const e of ev) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
    console.log([...kinds].map(([k, n]) => `${k}: ${n}`).join(", "));
    for (const e of ev.filter((x) => !["probe", "report", "guest-log"].includes(x.kind))) console.log(`  ${e.raw}`);
    const r = consoleReports(ev);
    if (r.length > 0) console.log(`reports: ${r.length}, ${(r[r.length - 1]!.ts - r[0]!.ts).toFixed(1)} s, last ${(r[r.length - 1]!.uw / 1e6).toFixed(2)} W`);
    console.log(`probes: ${consoleProbes(ev).length}`);
  });

await program.parseAsync();
