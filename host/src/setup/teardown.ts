import { readFile, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { createTwoFilesPatch } from "diff";
import { CHANNEL_NAME, ScaphError, errorMessage } from "@scaph/common";
import { DeviceModifyFlags, DomainXMLFlags } from "@scaph/libvirt";
import { channelElementXml, findChannel, findShare, normalizeXml, removeChannel, removeShare, shareElementXml } from "../vm/domain-xml.js";
import { findDomain, openLibvirt, secureFlag } from "./libvirt-domain.js";
import { resolvedPath } from "@scaph/common";
import { mountAt } from "@scaph/common";
import { unmount } from "./mounts.js";
import { checkCommon, exists, runActions } from "./setup.js";
import type { Action, SetupOptions } from "./setup.js";
import { mountUnitName, systemctl, systemdRunning } from "./systemd.js";

export type TeardownOptions = Omit<SetupOptions, "size" | "transport" | "live"> & {
  size?: string;
  transport?: string;
  /** Go on where the running domain cannot let go of the share or channel (the guest then keeps its last values). */
  force?: boolean;
};

/**
 * Reverses setup: the devices of a running domain (detached live first), the
 * persistent XML, the mount unit, the mount, the directory. Idempotent.
 *
 * A running domain's share is detached live before its tmpfs goes; where it
 * cannot be (no hot-unplug, the guest holding on), teardown refuses and
 * changes nothing, unless --force: the tmpfs then goes from under the guest,
 * which keeps its last values, and the daemon stops writing there (a share
 * without its tmpfs is never written).
 */
export async function teardown(options: TeardownOptions): Promise<void> {
  checkCommon(options, "teardown");
  const dir = join(resolvedPath(options.baseDir), options.domain); // as setup named it (the base may be a link)
  using conn = openLibvirt(options.connect, options.dryRun); // --dry-run changes nothing: read-only, as any user may
  using dom = findDomain(conn, options.domain);
  const actions: Action[] = [];

  if (dom.isActive) {
    const live = dom.xml(secureFlag(options));
    const devices = [
      findChannel(live) ? { what: `the channel ${CHANNEL_NAME}`, xml: channelElementXml(live), still: (x: string) => findChannel(x) !== null } : null,
      findShare(live) ? { what: `the ${findShare(live)?.transport} share`, xml: shareElementXml(live), still: (x: string) => findShare(x) !== null } : null,
    ];
    for (const d of devices) {
      if (!d?.xml) continue;
      const devXml = d.xml;
      actions.push({
        say: `hot-unplug ${d.what} from running ${options.domain}`,
        run: async () => {
          let why: string | null = null;
          try {
            dom.detachDevice(devXml, DeviceModifyFlags.LIVE);
            // PCI devices go once the guest acknowledges (ACPI); libvirt returns after its wait either way
            if (d.still(dom.xml(secureFlag(options)))) why = "the guest did not release it (it must acknowledge PCI hot-unplug)";
          } catch (err) {
            why = errorMessage(err);
          }
          if (why === null) return;
          const msg = `cannot detach ${d.what} from running ${options.domain}: ${why}`;
          if (!options.force) {
            throw new ScaphError(
              `${msg}.\n  Nothing was changed. Shut ${options.domain} down first (virsh shutdown ${options.domain}), then teardown; ` +
                `or --force: the guest keeps its last values until its next restart, and scaph-host qemu stops writing there.`,
            );
          }
          options.print(`${msg}: going on (--force); it goes at the next restart of ${options.domain}`);
        },
      });
    }
  }
  const xml = dom.xml(DomainXMLFlags.INACTIVE | secureFlag(options));
  const noShare = removeShare(xml);
  const noChannel = removeChannel(noShare.xml);
  const edit = { xml: noChannel.xml, changed: noShare.changed || noChannel.changed, notes: [...noShare.notes, ...noChannel.notes] };
  if (edit.changed) {
    actions.push({
      say: `define ${options.domain} with: ${edit.notes.join("; ")}`,
      run: async () => {
        conn.defineXML(edit.xml).free();
      },
    });
    if (options.dryRun)
      options.print(createTwoFilesPatch(`${options.domain}.xml`, `${options.domain}.xml (after teardown)`, normalizeXml(xml), edit.xml).trimEnd());
  }

  const unit = mountUnitName(dir);
  const unitPath = join(options.unitDir, unit);
  if ((await readFile(unitPath, "utf8").catch(() => null)) !== null) {
    if (await systemdRunning()) actions.push({ say: `systemctl disable ${unit}`, run: () => systemctl(["disable", unit]) });
    actions.push({ say: `remove ${unitPath}`, run: () => unlink(unitPath) });
  }
  if (await mountAt(dir, options.procfsPath)) actions.push({ say: `umount ${dir}`, run: () => unmount(dir) });
  if (await exists(dir)) {
    actions.push({
      say: `remove ${dir}`,
      run: async () => {
        if (await mountAt(dir, options.procfsPath)) throw new ScaphError(`${dir} is still mounted: not removed`);
        await rm(dir, { recursive: true, force: true });
      },
    });
  }
  if (actions.length === 0) options.print(`${options.domain}: nothing to remove`);
  await runActions(actions, options);
}
