import { execFileSync } from "node:child_process";
import { requireCommand } from "./root.js";

/** Runs promtool check metrics on an exposition; returns its lint lines (empty when clean). */
export function promtoolLint(body: string): string[] {
  const promtool = requireCommand("promtool", "prometheus");
  try {
    execFileSync(promtool, ["check", "metrics"], { input: body, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
    return [];
  } catch (err) {
    const e = err as { status?: number | null; stdout?: string; stderr?: string };
    if (e.status === undefined || e.status === null) throw new Error(`promtool did not run: ${String(err)}`);
    return `${e.stdout ?? ""}${e.stderr ?? ""}`.split("\n").filter((l) => l.trim() !== "");
  }
}

/** Names kept for Scaphandre's dashboards (microjoule counters, and the containers' beside them), whose lint warnings are accepted; each has a `_joules_total` twin. */
export const ACCEPTED_LINT = [
  /^scaph_(host|socket|domain|container)_energy_microjoules (counter metrics should have "_total" suffix|use base unit "joules" instead of "microjoules")$/,
];

/** promtool's lint lines but the accepted ones: what must be empty. */
export function promtoolProblems(body: string): string[] {
  return promtoolLint(body).filter((l) => !ACCEPTED_LINT.some((re) => re.test(l)));
}
