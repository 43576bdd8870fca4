import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createTwoFilesPatch } from "diff";
import { CHANNEL_NAME, errnoCode, errorMessage, mountAt, resolvedPath, ScaphError, SHARE_TAG } from "@scaph/common";
import { DeviceModifyFlags, DomainXMLFlags } from "@scaph/libvirt";
import type { Connection, Domain } from "@scaph/libvirt";
import { unsafeNameReason } from "../vm/names.js";
import { addChannel, addShare, channelXml, filesystemXml, findChannel, findShare, hasSharedMemory, hasVirtioSerial, normalizeXml } from "../vm/domain-xml.js";
import type { Edit } from "../vm/domain-xml.js";
import type { Transport } from "@scaph/common";
import { findDomain, openLibvirt, secureFlag } from "./libvirt-domain.js";
import { guestInstructions } from "./guest-help.js";
import { mountTmpfs, tmpfsOptions, validSize } from "./mounts.js";
import { fstabLine, mountUnitName, mountUnitText, systemctl, systemdRunning } from "./systemd.js";

export interface SetupOptions {
  domain: string;
  baseDir: string;
  size: string;
  transport: Transport;
  live: boolean;
  dryRun: boolean;
  connect: string;
  /** Where mount units go (default /etc/systemd/system). */
  unitDir: string;
  /** procfs root, for the mount table (default /proc). */
  procfsPath?: string;
  /** Output lines (stdout). */
  print: (line: string) => void;
}

/** libvirt accepts <readonly/> on virtiofs from version 11. */
export const VIRTIOFS_READONLY_SINCE = 11_000_000;

export function checkCommon(options: { domain: string; dryRun: boolean }, verb: string): void {
  const why = unsafeNameReason(options.domain);
  if (why !== null) throw new ScaphError(`refusing domain name ${JSON.stringify(options.domain)} as a directory name: ${why}`);
  if (!options.dryRun && process.getuid?.() !== 0) {
    throw new ScaphError(
      `${verb} must run as root (it mounts a tmpfs, writes a systemd unit and edits the domain); use sudo, or --dry-run to see what it would do`,
    );
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return false;
    throw e;
  }
}

/** An action setup or teardown takes: said in --dry-run, done otherwise. */
export interface Action {
  say: string;
  run: () => Promise<void>;
}

export async function runActions(actions: readonly Action[], options: { dryRun: boolean; print: (l: string) => void }): Promise<void> {
  for (const a of actions) {
    options.print(`${options.dryRun ? "would " : ""}${a.say}`);
    if (!options.dryRun) await a.run();
  }
}

/** Prints the XML diff of an edit (--dry-run) and queues its definition. */
function defineAction(conn: Connection, options: SetupOptions, xml: string, edit: Edit, actions: Action[], after: string): void {
  if (!edit.changed) return;
  actions.push({
    say: `define ${options.domain} with: ${edit.notes.join("; ")}`,
    run: async () => {
      try {
        conn.defineXML(edit.xml).free();
      } catch (err) {
        throw new ScaphError(`libvirt refused the edited XML of ${options.domain}: ${errorMessage(err)}`);
      }
    },
  });
  if (options.dryRun) options.print(createTwoFilesPatch(`${options.domain}.xml`, `${options.domain}.xml (${after})`, normalizeXml(xml), edit.xml).trimEnd());
}

/**
 * The channel transport: a virtio-serial channel in the persistent XML
 * (libvirt adds the controller it needs, and picks the socket path); with
 * --live, hot-plugged into the running domain where it has a virtio-serial
 * controller (libvirt cannot hot-plug the controller itself). No tmpfs, no
 * share, nothing to mount in the guest.
 */
async function setupChannel(options: SetupOptions, conn: Connection, dom: Domain): Promise<void> {
  const actions: Action[] = [];
  const xml = dom.xml(DomainXMLFlags.INACTIVE | secureFlag(options));
  defineAction(conn, options, xml, addChannel(xml), actions, "after setup");
  if (findShare(xml)) options.print(`note: ${options.domain} also has the "${SHARE_TAG}" share; "scaph-host teardown ${options.domain}" removes both`);
  let restartNeeded = false;
  if (dom.isActive) {
    const live = dom.xml(secureFlag(options));
    if (findChannel(live)) {
      // already there
    } else if (!options.live) restartNeeded = true;
    else if (!hasVirtioSerial(live)) {
      options.print(`cannot hot-plug the channel into ${options.domain}: its running config has no virtio-serial controller, and libvirt cannot hot-plug one`);
      restartNeeded = true;
    } else {
      actions.push({
        say: `hot-plug the channel ${CHANNEL_NAME} into running ${options.domain}`,
        run: async () => {
          try {
            dom.attachDevice(channelXml(), DeviceModifyFlags.LIVE);
          } catch (err) {
            options.print(`hot-plug failed (${errorMessage(err)})`);
            restartNeeded = true;
          }
        },
      });
    }
  }
  if (actions.length === 0) options.print(`${options.domain}: nothing to change, already set up for channel`);
  await runActions(actions, options);
  if (restartNeeded) {
    options.print(
      `restart ${options.domain} for the channel to appear in the guest (virsh shutdown ${options.domain}; virsh start ${options.domain})${options.live ? "" : ", or run setup with --live to hot-plug it"}`,
    );
  }
  options.print(guestInstructions("channel"));
}

export async function setup(options: SetupOptions): Promise<void> {
  checkCommon(options, "setup");
  if (!validSize(options.size)) throw new ScaphError(`--size ${JSON.stringify(options.size)} is not a tmpfs size (e.g. 5m, 512k)`);
  // The base resolved once (it may be a link, /var/lib/libvirt on a data disk): the mount, its unit's Where=
  // and every later comparison name the same path.
  const dir = join(resolvedPath(options.baseDir), options.domain);
  using conn = openLibvirt(options.connect, options.dryRun); // --dry-run changes nothing: read-only, as any user may
  using dom = findDomain(conn, options.domain);
  if (options.transport === "channel") return await setupChannel(options, conn, dom); // await: `using` frees the handles when setup returns
  const version = conn.libVersion();
  const spec = { transport: options.transport, sourceDir: dir, virtiofsReadonly: version.number >= VIRTIOFS_READONLY_SINCE };
  const actions: Action[] = [];

  if (!(await exists(dir))) actions.push({ say: `create ${dir}`, run: () => mkdir(dir, { recursive: true, mode: 0o755 }).then(() => {}) });
  const mounted = await mountAt(dir, options.procfsPath);
  if (!mounted) actions.push({ say: `mount -t tmpfs -o ${tmpfsOptions(options.size)} tmpfs ${dir}`, run: () => mountTmpfs(dir, options.size) });
  else if (mounted.fsType !== "tmpfs") options.print(`note: ${dir} is already a ${mounted.fsType} mount; left as it is`);

  const unitPath = join(options.unitDir, mountUnitName(dir));
  const unit = mountUnitText(dir, options.size, options.domain);
  const current = await readFile(unitPath, "utf8").catch(() => null);
  const sd = await systemdRunning();
  if (current !== unit) {
    actions.push({ say: `write ${unitPath} (the tmpfs survives a reboot)`, run: () => writeFile(unitPath, unit) });
    if (sd)
      actions.push({
        say: `systemctl daemon-reload && systemctl enable ${mountUnitName(dir)}`,
        run: async () => {
          await systemctl(["daemon-reload"]);
          await systemctl(["enable", mountUnitName(dir)]);
        },
      });
  }
  if (!sd) options.print(`systemd is not running here: to mount the tmpfs at boot, add this line to /etc/fstab:\n  ${fstabLine(dir, options.size)}`);

  const xml = dom.xml(DomainXMLFlags.INACTIVE | secureFlag(options));
  defineAction(conn, options, xml, addShare(xml, spec), actions, "after setup");
  if (options.transport === "virtiofs" && spec.virtiofsReadonly === false) {
    options.print(
      `note: libvirt ${version.major}.${version.minor} rejects <readonly/> on virtiofs: the guest can write into its share (scaph treats the tree as untrusted); use --transport 9p for a read-only share`,
    );
  }

  let restartNeeded = false;
  if (dom.isActive) {
    const live = dom.xml(secureFlag(options));
    if (findShare(live)) {
      // already there
    } else if (!options.live) restartNeeded = true;
    else if (options.transport === "virtiofs" && !hasSharedMemory(live)) {
      options.print(`cannot hot-plug virtiofs into ${options.domain}: its running config has no shared memory backing`);
      restartNeeded = true;
    } else {
      actions.push({
        say: `hot-plug the ${options.transport} share into running ${options.domain}`,
        run: async () => {
          try {
            dom.attachDevice(filesystemXml(spec), DeviceModifyFlags.LIVE);
          } catch (err) {
            options.print(`hot-plug failed (${errorMessage(err)})`);
            restartNeeded = true;
          }
        },
      });
    }
  }

  if (actions.length === 0) options.print(`${options.domain}: nothing to change, already set up for ${options.transport}`);
  await runActions(actions, options);
  if (restartNeeded) {
    options.print(
      `restart ${options.domain} for the share to appear in the guest (virsh shutdown ${options.domain}; virsh start ${options.domain})${options.live ? "" : ", or run setup with --live to hot-plug it"}`,
    );
  }
  options.print(guestInstructions(options.transport));
}
