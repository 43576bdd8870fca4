import { stat } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage, readBounded, VM_PACKAGE_ZONE } from "@scaph/common";
import { DomainXMLFlags } from "@scaph/libvirt";
import { DomainState, PausedReason, RunningReason, ShutoffReason, domainStateName } from "@scaph/libvirt/flags";
import { STATUS_FILE } from "../vm/status-file.js";
import type { DaemonStatus } from "../vm/status-file.js";
import { isSafeDirName, quoteName } from "../vm/names.js";
import { findChannel, findShare } from "../vm/domain-xml.js";
import { openLibvirt } from "./libvirt-domain.js";
import { mountAt } from "@scaph/common";

export interface StatusRow {
  domain: string;
  state: string;
  running: boolean;
  /** Transports in the persistent XML: `virtiofs`, `9p`, `channel`, joined with `+`; null when none. */
  transport: string | null;
  /** Transports in the live XML (running domains): what the guest has now. */
  live_transport: string | null;
  /** The tree directory is a tmpfs mount. */
  mounted: boolean;
  /** Seconds since the tree was last written, or null if never. */
  tree_age_s: number | null;
  /** Power the daemon attributed at its last step, W, or null. */
  power_w: number | null;
  /** The daemon's channel to the VM, where it has one. */
  channel: { connected: boolean; sent: number; dropped: number } | null;
  problems: string[];
}

/** A tree or a status file older than this many of the daemon's steps is stale. */
export const STALE_STEPS = 3;
/** Whatever the step, older than this is stale. */
const STALE_MIN_S = 10;

/** The daemon's status file, or null (absent, unreadable). Host-only: read as untrusted all the same. */
export function readDaemonStatus(baseDir: string): DaemonStatus | null {
  const r = readBounded(join(baseDir, STATUS_FILE), 4 * 1024 * 1024);
  if (!r.ok) return null;
  try {
    const s = JSON.parse(Buffer.from(r.text, "latin1").toString("utf8")) as DaemonStatus;
    return typeof s.timestamp_s === "number" && Array.isArray(s.vms) ? s : null;
  } catch {
    return null;
  }
}

/** How a domain's XML gives it energy: its share's transport, its channel. */
export type Transport = "virtiofs" | "9p" | "channel";

function transportsOf(xml: string): Transport[] {
  const share = findShare(xml)?.transport;
  return [...(share ? [share] : []), ...(findChannel(xml) ? (["channel"] as const) : [])];
}

/** As `status` shows them: joined with `+`, null when none. */
const joined = (t: readonly Transport[]): string | null => (t.length > 0 ? t.join("+") : null);

export interface StatusOptions {
  connect: string;
  baseDir: string;
  procfsPath?: string;
}

/** What is said above the table, by kind: each is a failure of `status`. */
export interface StatusNote {
  kind: "no-status-file" | "daemon-not-running" | "libvirt-unreachable";
  text: string;
}

export interface StatusReport {
  /** The daemon, from its status file while it is fresh. */
  daemon?: { pid: number; step_s: number; steps: number; proc_files_held: number | null };
  rows: StatusRow[];
  notes: StatusNote[];
}

/**
 * One row per domain, and what is wrong with it: for a running domain, no
 * transport, a transport only in the persistent XML (the guest has it after
 * a restart), a tree that is not a tmpfs or is older than three of the
 * daemon's steps, a channel the daemon is not connected to. When libvirt
 * cannot be reached, the rows come from the daemon's status file alone.
 */
export async function collectStatus(options: StatusOptions): Promise<StatusReport> {
  const daemon = readDaemonStatus(options.baseDir);
  const notes: StatusNote[] = [];
  const nowS = Date.now() / 1000;
  const staleS = Math.max(STALE_MIN_S, STALE_STEPS * (daemon?.step_s || 2));
  const daemonFresh = daemon !== null && nowS - daemon.timestamp_s <= staleS;
  if (!daemon) notes.push({ kind: "no-status-file", text: `no status file in ${options.baseDir}: scaph-host qemu has not run with this --base-dir` });
  else if (!daemonFresh) {
    notes.push({
      kind: "daemon-not-running",
      text: `scaph-host qemu last wrote its status ${Math.round(nowS - daemon.timestamp_s)} s ago: it is not running (systemctl status scaph-host-qemu)`,
    });
  }
  const about = daemonFresh ? { daemon: { pid: daemon.pid, step_s: daemon.step_s, steps: daemon.steps, proc_files_held: daemon.proc_files_held ?? null } } : {};
  let conn;
  try {
    conn = openLibvirt(options.connect, true);
  } catch (err) {
    notes.push({ kind: "libvirt-unreachable", text: `libvirt unreachable (${errorMessage(err).split("\n")[0]}): rows from the daemon's status file only` });
    return { ...about, rows: fromStatusFile(daemon, daemonFresh), notes };
  }
  using c = conn;
  const rows: StatusRow[] = [];
  const uuids = new Set<string>();
  for (const d of c.listAllDomains()) {
    try {
      const name = d.name;
      const running = d.isActive;
      const safe = isSafeDirName(name);
      const dir = join(options.baseDir, name);
      const persistent = transportsOf(d.xml(DomainXMLFlags.INACTIVE));
      const live = running ? transportsOf(d.xml(0)) : [];
      // the running VM's transports where it has any, else what it gets at its next start
      const wantsTree = (live.length > 0 ? live : persistent).some((t) => t !== "channel");
      const wantsChannel = live.includes("channel");
      const mount = safe && wantsTree ? await mountAt(dir, options.procfsPath) : null;
      const mtime =
        safe && wantsTree
          ? await stat(join(dir, VM_PACKAGE_ZONE, "energy_uj"))
              .then((s) => s.mtimeMs)
              .catch(() => null)
          : null;
      const age = mtime === null ? null : Math.max(0, Date.now() / 1000 - mtime / 1000);
      // UUIDs are lower case wherever they come from (libvirt's, qemu's -uuid as parsed, the status file's)
      const uuid = d.uuid;
      uuids.add(uuid);
      const mine = (v: { name: string; uuid: string | null }): boolean => (v.uuid !== null ? v.uuid === uuid : v.name === name);
      const vm = daemonFresh ? daemon.vms.find(mine) : undefined;
      const incoming = daemonFresh && (daemon.incoming ?? []).some(mine);
      const state = d.state;
      const problems: string[] = [];
      if (!safe) problems.push("name unsafe as a directory");
      if (running && !incoming) {
        if (persistent.length === 0 && live.length === 0) problems.push("not set up (scaph-host setup)");
        for (const t of persistent) {
          if (!live.includes(t)) problems.push(`${t} only in the persistent XML: restart the VM${t === "channel" ? " or setup --live" : ""}`);
        }
        for (const t of live) {
          if (!persistent.includes(t)) problems.push(`${t} only in the running VM: it goes at the next restart (scaph-host setup)`);
        }
        if (wantsTree && mount?.fsType !== "tmpfs") problems.push("tree dir not a tmpfs (scaph-host setup)");
        if (wantsTree && (age === null || age > staleS))
          problems.push(`tree not updated for ${age === null ? "ever" : `${Math.round(age)} s`} (is scaph-host qemu running?)`);
        if (wantsChannel && vm && !vm.channel?.connected) problems.push("the daemon is not connected to the channel");
        if (wantsChannel && !vm) problems.push("no channel lines: is scaph-host qemu running?");
      }
      rows.push({
        domain: name,
        state: incoming ? "incoming" : stateText(state.code, state.reason),
        running,
        transport: joined(persistent),
        live_transport: running ? joined(live) : null,
        mounted: mount?.fsType === "tmpfs",
        tree_age_s: age === null ? null : Math.round(age * 10) / 10,
        power_w: vm ? Math.round(vm.power_uw / 1e3) / 1e3 : null,
        channel: vm?.channel ? { connected: vm.channel.connected, sent: vm.channel.sent, dropped: vm.channel.dropped } : null,
        problems,
      });
    } finally {
      d.free();
    }
  }
  // VMs the daemon found that this host's libvirt does not know: a qemu started by hand, a KubeVirt VM
  // (its libvirt is its pod's): rows from the status file
  const known = (v: { name: string; uuid: string | null }): boolean => rows.some((r) => r.domain === v.name) || (v.uuid !== null && uuids.has(v.uuid));
  if (daemonFresh) {
    for (const v of daemon.vms.filter((x) => !known(x))) {
      for (const r of vmRows([v], true)) rows.push({ ...r, state: `running (no domain in this host's libvirt${v.libvirt_note ? `; ${v.libvirt_note}` : ""})` });
    }
  }
  return { ...about, rows: rows.sort((a, b) => a.domain.localeCompare(b.domain)), notes };
}

/**
 * A domain's state as `status` shows it: libvirt's, with the reason where it
 * tells a live migration's story (the daemon's own "incoming" comes first).
 */
export function stateText(code: number, reason: number): string {
  if (code === DomainState.PAUSED && reason === PausedReason.MIGRATION) return "paused (migrating)";
  if (code === DomainState.RUNNING && reason === RunningReason.MIGRATED) return "running (migrated in)";
  if (code === DomainState.SHUTOFF && reason === ShutoffReason.MIGRATED) return "shut off (migrated away)";
  return domainStateName(code).toLowerCase();
}

/** Rows from the daemon's status file alone (libvirt unreachable). */
function fromStatusFile(daemon: DaemonStatus | null, fresh: boolean): StatusRow[] {
  const incoming = (fresh ? (daemon?.incoming ?? []) : []).map((v) => ({
    domain: v.name,
    state: "incoming",
    running: false,
    transport: null,
    live_transport: null,
    mounted: false,
    tree_age_s: null,
    power_w: null,
    channel: null,
    problems: [],
  }));
  return vmRows(daemon?.vms ?? [], fresh).concat(incoming);
}

/** Rows of the daemon's VMs, from its status file. */
function vmRows(vms: DaemonStatus["vms"], fresh: boolean): StatusRow[] {
  return vms.map((v) => ({
    domain: v.name,
    state: fresh ? "running" : "unknown",
    running: fresh,
    transport: null,
    live_transport: [v.tree ? "tree" : "", v.channel ? "channel" : ""].filter(Boolean).join("+") || null,
    mounted: false,
    tree_age_s: null,
    power_w: fresh ? Math.round(v.power_uw / 1e3) / 1e3 : null,
    channel: v.channel ? { connected: v.channel.connected, sent: v.channel.sent, dropped: v.channel.dropped } : null,
    problems: [
      ...(fresh ? [] : ["the daemon's status is stale"]),
      ...(v.tree && !v.written ? ["tree not written at the last step"] : []),
      ...(v.channel && !v.channel.connected ? ["the daemon is not connected to the channel"] : []),
    ],
  }));
}

export function formatStatus(report: StatusReport): string {
  const head = ["DOMAIN", "STATE", "TRANSPORT", "MOUNTED", "TREE AGE (s)", "CHANNEL", "POWER (W)", "PROBLEMS"];
  const body = report.rows.map((r) => [
    /^[\x21-\x7e]+$/.test(r.domain) ? r.domain : quoteName(r.domain), // a name with spaces, controls or bidi marks: quoted, escaped
    r.state,
    r.live_transport ?? r.transport ?? "-",
    r.mounted ? "yes" : "no",
    r.tree_age_s === null ? "-" : String(r.tree_age_s),
    r.channel ? `${r.channel.connected ? "connected" : "disconnected"}, ${r.channel.dropped} dropped` : "-",
    r.power_w === null ? "-" : String(r.power_w),
    r.problems.join("; ") || "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  const table = [head, ...body].map((cols) => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")).join("\n");
  const d = report.daemon;
  const daemon = d
    ? [
        `daemon: pid ${d.pid}, ${d.steps} steps of ${d.step_s.toFixed(1)} s${d.proc_files_held === null ? "" : `, ${d.proc_files_held} files of /proc held open`}`,
      ]
    : [];
  return [...daemon, ...report.notes.map((n) => `note: ${n.text}`), table].join("\n") + "\n";
}

/** Whether status must exit non-zero: any problem of any row, or the daemon down. */
export function statusFailed(report: StatusReport): boolean {
  return report.rows.some((r) => r.problems.length > 0) || report.notes.length > 0;
}
