import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { DomainXMLFlags } from "@scaph/libvirt";
import { STATUS_FILE } from "../qemu/status-sink.js";
import type { DaemonStatus } from "../qemu/status-sink.js";
import { isSafeDirName } from "../qemu/names.js";
import { findShare } from "./domain-xml.js";
import { openLibvirt } from "./libvirt-domain.js";
import { mountAt } from "./mounts.js";

export interface StatusRow {
  domain: string;
  state: string;
  running: boolean;
  /** The tree directory is a tmpfs mount. */
  mounted: boolean;
  /** Transport of the share in the persistent XML, or null. */
  share: string | null;
  /** Seconds since the tree was last written, or null if never. */
  tree_age_s: number | null;
  /** Power the daemon attributed at its last step, W, or null. */
  power_w: number | null;
  problems: string[];
}

/** A tree older than this is stale (the daemon is down). */
export const STALE_AFTER_S = 30;

export async function collectStatus(o: { connect: string; baseDir: string; procfsPath?: string }): Promise<StatusRow[]> {
  using conn = openLibvirt(o.connect, true);
  const daemon = await readFile(join(o.baseDir, STATUS_FILE), "utf8")
    .then((t) => JSON.parse(t) as DaemonStatus)
    .catch(() => null);
  const rows: StatusRow[] = [];
  for (const d of conn.listAllDomains()) {
    try {
      const name = d.name;
      const st = d.state.state;
      const running = d.isActive;
      const safe = isSafeDirName(name);
      const dir = join(o.baseDir, name);
      const mount = safe ? await mountAt(dir, o.procfsPath) : null;
      const share = findShare(d.xml(DomainXMLFlags.INACTIVE))?.transport ?? null;
      const mtime = safe ? await stat(join(dir, "intel-rapl:0", "energy_uj")).then((s) => s.mtimeMs).catch(() => null) : null;
      const age = mtime === null ? null : Math.max(0, (Date.now() - mtime) / 1000);
      const fresh = daemon && Date.now() / 1000 - daemon.timestamp_s < STALE_AFTER_S;
      const vm = fresh ? daemon.vms.find((v) => v.name === name) : undefined;
      const problems: string[] = [];
      if (!safe) problems.push("name unsafe as a directory");
      if (running) {
        if (!mount) problems.push("tree dir not mounted (run setup)");
        if (!share) problems.push("no share in the XML (run setup)");
        if (age === null || age > STALE_AFTER_S) problems.push("tree not updated (is scaph-host qemu running?)");
      }
      rows.push({
        domain: name,
        state: st.toLowerCase(),
        running,
        mounted: mount?.fsType === "tmpfs",
        share,
        tree_age_s: age === null ? null : Math.round(age * 10) / 10,
        power_w: vm ? Math.round(vm.power_uw / 1e3) / 1e3 : null,
        problems,
      });
    } finally {
      d.free();
    }
  }
  return rows.sort((a, b) => a.domain.localeCompare(b.domain));
}

export function formatStatus(rows: readonly StatusRow[]): string {
  const head = ["DOMAIN", "STATE", "MOUNTED", "SHARE", "TREE AGE (s)", "POWER (W)", "PROBLEMS"];
  const body = rows.map((r) => [
    r.domain,
    r.state,
    r.mounted ? "yes" : "no",
    r.share ?? "-",
    r.tree_age_s === null ? "-" : String(r.tree_age_s),
    r.power_w === null ? "-" : String(r.power_w),
    r.problems.join("; ") || "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  return [head, ...body].map((cols) => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")).join("\n") + "\n";
}
