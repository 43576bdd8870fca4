import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./cli.js";

export const DASHBOARD_DIR = join(repoRoot, "deploy/grafana/dashboards");

interface Target {
  expr?: string;
}
interface Panel {
  title?: string;
  type?: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  description?: string;
  name: string;
  type: string;
  query?: string | { query?: string };
  current?: { value?: string | string[] };
}
export interface Dashboard {
  uid: string;
  title: string;
  tags?: string[];
  panels: Panel[];
  templating: { list: Variable[] };
}

/** Which Prometheus a dashboard reads: one scraping hypervisors and guests, one scraping Kubernetes nodes, or the fleet's TSDB. */
export type DashboardKind = "hypervisor" | "kubernetes" | "fleet";

/** Every dashboard file of a kind, parsed: tagged `kubernetes`, tagged `fleet`, or neither (hypervisors and guests). */
export function dashboards(which: DashboardKind = "hypervisor"): { file: string; d: Dashboard }[] {
  const kindOf = (d: Dashboard): DashboardKind => (d.tags?.includes("kubernetes") ? "kubernetes" : d.tags?.includes("fleet") ? "fleet" : "hypervisor");
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith(".json"))
    .map((f) => ({ file: f, d: JSON.parse(readFileSync(join(DASHBOARD_DIR, f), "utf8")) as Dashboard }))
    .filter(({ d }) => kindOf(d) === which);
}

/**
 * Every panel query (its variables substituted as Grafana would) and every
 * variable of the dashboards of a kind, asked of a real Prometheus at `api`
 * (its /api/v1): what has no data, by file and panel, and how many queries ran.
 */
export async function dashboardsWithoutData(which: DashboardKind, api: string): Promise<{ empty: string[]; queries: number; files: number }> {
  const query = async (q: string): Promise<QueryResult> => (await (await fetch(`${api}/query?query=${encodeURIComponent(q)}`)).json()) as QueryResult;
  const empty: string[] = [];
  let queries = 0;
  const list = dashboards(which);
  for (const { file, d } of list) {
    for (const { panel, expr } of panelQueries(d)) {
      queries++;
      const q = substitute(d, expr);
      const r = await query(q);
      if (r.status !== "success") empty.push(`${file}, panel "${panel}": ${q}: ${r.error}`);
      else if (r.data.result.length === 0) empty.push(`${file}, panel "${panel}": ${q}: no series`);
    }
    for (const { name, query: vq } of variableQueries(d)) {
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(substitute(d, vq));
      if (!m) {
        empty.push(`${file}: variable ${name}: ${vq} is not label_values(selector, label)`);
        continue;
      }
      const r = (await (await fetch(`${api}/series?match[]=${encodeURIComponent(m[1] ?? "")}`)).json()) as { data: Record<string, string>[] };
      if (!r.data.some((s) => s[m[2] ?? ""] !== undefined)) empty.push(`${file}, variable ${name}: ${vq}: no ${m[2]} label`);
    }
  }
  return { empty, queries, files: list.length };
}

/** Each query of each panel (rows' panels too), with the panel's title. */
export function panelQueries(d: Dashboard): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  const walk = (ps: Panel[]): void => {
    for (const p of ps) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? "(untitled)", expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  return out;
}

/** The variables' queries (label_values(...)). */
export function variableQueries(d: Dashboard): { name: string; query: string }[] {
  return d.templating.list
    .filter((v) => v.type === "query")
    .map((v) => ({ name: v.name, query: typeof v.query === "string" ? v.query : (v.query?.query ?? "") }));
}

/**
 * A query as Grafana sends it, the dashboard's variables at what a user sees
 * first: custom variables at their value, query variables at All (.*), text
 * boxes at their default, and Grafana's own ($__range...).
 */
export function substitute(d: Dashboard, expr: string): string {
  let e = expr;
  for (const v of d.templating.list) {
    const value =
      v.type === "custom" ? String(v.current?.value ?? "") : v.type === "query" ? ".*" : v.type === "textbox" ? String(v.current?.value ?? "") : null;
    if (value === null) continue;
    e = e.replaceAll(`\${${v.name}}`, value).replaceAll(`$${v.name}`, value);
  }
  return e.replaceAll("$__range", "1h").replaceAll("$__rate_interval", "1m").replaceAll("$__interval", "10s");
}

/** The answer of Prometheus's /api/v1/query. */
export interface QueryResult {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  error?: string;
}
