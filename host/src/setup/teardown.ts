import { readFile, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { createTwoFilesPatch } from "diff";
import { CHANNEL_NAME, ScaphError } from "@scaph/common";
import { DeviceModifyFlags, DomainXMLFlags, LibvirtError } from "@scaph/libvirt";
import { channelElementXml, findChannel, findShare, normalizeXml, removeChannel, removeShare, shareElementXml } from "./domain-xml.js";
import { findDomain, openLibvirt } from "./libvirt-domain.js";
import { mountAt, unmount } from "./mounts.js";
import { checkCommon, exists, runActions } from "./setup.js";
import type { Action, SetupOptions } from "./setup.js";
import { mountUnitName, systemctl, systemdRunning } from "./systemd.js";

export type TeardownOptions = Omit<SetupOptions, "size" | "transport"> & { size?: string; transport?: string };

/** Reverses setup: the device (live with --live, and persistent), the mount unit, the mount, the directory. Idempotent. */
export async function teardown(o: TeardownOptions): Promise<void> {
  checkCommon(o, "teardown");
  const dir = join(o.baseDir, o.domain);
  using conn = openLibvirt(o.connect);
  using dom = findDomain(conn, o.domain);
  const actions: Action[] = [];

  if (dom.isActive) {
    const live = dom.xml(DomainXMLFlags.SECURE);
    const chanXml = findChannel(live) ? channelElementXml(live) : null;
    if (chanXml && o.live) {
      actions.push({
        say: `hot-unplug the channel ${CHANNEL_NAME} from running ${o.domain}`,
        run: async () => {
          try {
            dom.detachDevice(chanXml, DeviceModifyFlags.LIVE);
          } catch (err) {
            o.print(`hot-unplug of the channel failed (${err instanceof LibvirtError ? err.message : String(err)}): it goes at the next restart of ${o.domain}`);
          }
        },
      });
    } else if (chanXml) o.print(`${o.domain} is running with the channel: it goes at its next restart (or use --live)`);
    const share = findShare(live);
    if (share && o.live) {
      actions.push({
        say: `hot-unplug the ${share.transport} share from running ${o.domain}`,
        run: async () => {
          try {
            const fsXml = shareElementXml(live);
            if (fsXml) dom.detachDevice(fsXml, DeviceModifyFlags.LIVE);
            o.print(`unplug requested: the guest must acknowledge it (ACPI); if it does not, the share goes at the next restart of ${o.domain}`);
          } catch (err) {
            o.print(`hot-unplug failed (${err instanceof LibvirtError ? err.message : String(err)}): the share goes at the next restart of ${o.domain}`);
          }
        },
      });
    } else if (share) o.print(`${o.domain} is running with the share: it goes at its next restart (or use --live)`);
  }
  const xml = dom.xml(DomainXMLFlags.INACTIVE | DomainXMLFlags.SECURE);
  const noShare = removeShare(xml);
  const noChannel = removeChannel(noShare.xml);
  const edit = { xml: noChannel.xml, changed: noShare.changed || noChannel.changed, notes: [...noShare.notes, ...noChannel.notes] };
  if (edit.changed) {
    actions.push({
      say: `define ${o.domain} with: ${edit.notes.join("; ")}`,
      run: async () => {
        conn.defineXML(edit.xml).free();
      },
    });
    if (o.dryRun) o.print(createTwoFilesPatch(`${o.domain}.xml`, `${o.domain}.xml (after teardown)`, normalizeXml(xml), edit.xml).trimEnd());
  }

  const unit = mountUnitName(dir);
  const unitPath = join(o.unitDir, unit);
  if ((await readFile(unitPath, "utf8").catch(() => null)) !== null) {
    if (await systemdRunning()) actions.push({ say: `systemctl disable ${unit}`, run: () => systemctl(["disable", unit]) });
    actions.push({ say: `remove ${unitPath}`, run: () => unlink(unitPath) });
  }
  if (await mountAt(dir, o.procfsPath)) actions.push({ say: `umount ${dir}`, run: () => unmount(dir) });
  if (await exists(dir)) {
    actions.push({
      say: `remove ${dir}`,
      run: async () => {
        if (await mountAt(dir, o.procfsPath)) throw new ScaphError(`${dir} is still mounted: not removed`);
        await rm(dir, { recursive: true, force: true });
      },
    });
  }
  if (actions.length === 0) o.print(`${o.domain}: nothing to remove`);
  await runActions(actions, o);
}
