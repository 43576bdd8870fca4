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

/** Every dashboard file, parsed; those tagged `kubernetes` (for Kubernetes nodes) or the others. */
export function dashboards(which: "hypervisor" | "kubernetes" = "hypervisor"): { file: string; d: Dashboard }[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith(".json"))
    .map((f) => ({ file: f, d: JSON.parse(readFileSync(join(DASHBOARD_DIR, f), "utf8")) as Dashboard }))
    .filter(({ d }) => (d.tags ?? []).includes("kubernetes") === (which === "kubernetes"));
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
