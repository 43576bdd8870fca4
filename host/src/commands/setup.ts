import { DEFAULT_BASE_DIR, DEFAULT_CONNECT_URI } from "./qemu.js";
import { Option, TRANSPORTS } from "@scaph/common";
import type { Command } from "@scaph/common";
import type { SetupOptions } from "../setup/setup.js";

type SetupFlags = Omit<SetupOptions, "domain" | "print" | "live"> & { live?: boolean; force?: boolean };

function shared(cmd: Command): Command {
  return cmd
    .option("--base-dir <dir>", "where the per-VM trees live", DEFAULT_BASE_DIR)
    .option("--size <size>", "size of the VM's tmpfs", "5m")
    .addOption(new Option("--transport <name>", "how the guest sees the tree").choices([...TRANSPORTS]).default("virtiofs"))
    .option("--dry-run", "change nothing: print the XML diff and the commands it would run", false)
    .option("-c, --connect <uri>", "libvirt URI", DEFAULT_CONNECT_URI)
    .option("--unit-dir <dir>", "where systemd mount units are written", "/etc/systemd/system")
    .option("--procfs-path <dir>", "procfs root, for the mount table", "/proc");
}

const print = (line: string): void => {
  process.stdout.write(line + "\n");
};

export function addSetupCommands(program: Command): void {
  // Loaded when run (libvirt, an XML DOM, diff, execa): the measuring commands never load them.
  const actions = [
    {
      name: "setup",
      run: async (options: SetupOptions) => (await import("../setup/setup.js")).setup(options),
      about: "prepare a domain: a tmpfs for its tree (surviving reboots) and the share in its XML; idempotent",
      flags: (c: Command) => c.option("--live", "also plug the share or channel into the running domain, where possible", false),
    },
    {
      name: "teardown",
      run: async (options: SetupOptions & { force?: boolean }) => (await import("../setup/teardown.js")).teardown(options),
      about:
        "undo setup: the share or channel (detached live from a running domain first: refused, changing nothing, " +
        "where it cannot be, unless --force), the mount unit, the mount and the directory; idempotent",
      flags: (c: Command) =>
        c.option("--force", "go on where a running domain cannot let go of its share: the guest keeps its last values until it restarts", false),
    },
  ];
  for (const a of actions) {
    a.flags(shared(program.command(a.name).argument("<domain>", "libvirt domain name").description(a.about))).action(
      async (domain: string, options: SetupFlags) => {
        await a.run({ ...options, live: options.live ?? false, domain, print });
      },
    );
  }
  // KubeVirt's hook sidecar calls `onDefineDomain --vmi JSON --domain XML` (the image's /usr/bin/onDefineDomain runs this)
  program
    .command("kubevirt-hook")
    .description("KubeVirt hook sidecar (onDefineDomain): print the domain XML with scaph's channel; on any doubt, the XML unchanged and why on stderr")
    .argument("[hook]", "the hook point, as the sidecar-shim names it", "onDefineDomain")
    .requiredOption("--domain <xml>", "the domain XML")
    .option("--vmi <json>", "the VMI, as JSON", "")
    .action(async (hook: string, options: { domain: string; vmi: string }) => {
      const { onDefineDomain } = await import("../kubevirt/hook.js");
      const r =
        hook === "onDefineDomain"
          ? onDefineDomain(options.vmi, options.domain)
          : { xml: options.domain, message: `scaph kubevirt-hook: no hook ${JSON.stringify(hook)}: domain XML left unchanged`, changed: false };
      process.stderr.write(r.message + "\n");
      process.stdout.write(r.xml); // byte for byte what was given, when unchanged
    });
  program
    .command("status")
    .description("one row per domain: state, transport (persistent and live), tree mount and age, channel, power; exit 1 on any problem")
    .option("--base-dir <dir>", "where the per-VM trees live", DEFAULT_BASE_DIR)
    .option("-c, --connect <uri>", "libvirt URI", DEFAULT_CONNECT_URI)
    .option("--json", "print JSON instead of a table", false)
    .option("--procfs-path <dir>", "procfs root, for the mount table", "/proc")
    .action(async (options: { baseDir: string; connect: string; json: boolean; procfsPath: string }) => {
      const { collectStatus, formatStatus, statusFailed } = await import("../setup/status.js");
      const report = await collectStatus(options);
      process.stdout.write(options.json ? JSON.stringify(report, null, 2) + "\n" : formatStatus(report));
      if (statusFailed(report)) process.exitCode = 1;
    });
}
