import { test } from "node:test";
import assert from "node:assert/strict";
import type { ProcessSnapshot } from "../../src/attribution/snapshot.js";
import { MATCHED_CMDLINE_MAX, selectProcesses } from "../../src/exporters/select.js";

/** A RegExp that counts its runs and the longest text it was given (test() calls exec()). */
class CountingRegExp extends RegExp {
  runs = 0;
  longest = 0;
  override exec(s: string): RegExpExecArray | null {
    this.runs++;
    this.longest = Math.max(this.longest, s.length);
    return super.exec(s);
  }
}

const proc = (pid: number, comm: string, cmdline: string[]): ProcessSnapshot => ({
  pid,
  comm,
  exe: `/usr/bin/${comm}`,
  cmdline,
  cpuTicks: 1,
  share: 0,
  energyUj: 0,
  powerUw: 0,
  cpuPercent: 0,
  memoryBytes: 0,
  memoryVirtualBytes: 0,
});

test("-r 'nginx.*master' against a local user's command line of nginx × 26,000 (hostile round 3, item 5): tested once per process, on its first 4,096 characters", () => {
  const hostile = proc(4242, "sh", ["nginx".repeat(26_000)]);
  const master = proc(100, "nginx", ["nginx: master process /usr/sbin/nginx"]);
  const re = new CountingRegExp("nginx.*master");
  const filter = { kind: "regex" as const, re, source: re.source };
  const t0 = process.cpuUsage();
  const first = selectProcesses([hostile, master], filter);
  const used = process.cpuUsage(t0);
  assert.deepEqual(
    first.map((p) => p.pid),
    [100],
  );
  assert.ok(re.longest <= MATCHED_CMDLINE_MAX, `tested against ${re.longest} characters`);
  const runs = re.runs;
  // the next steps: the same processes (the same command line arrays), nothing tested again
  for (let step = 0; step < 100; step++)
    assert.deepEqual(
      selectProcesses([hostile, master], filter).map((p) => p.pid),
      [100],
    );
  assert.equal(re.runs, runs, "no test after the first step");
  console.log(`# the first step's match of a 130,000-character command line: ${((used.user + used.system) / 1000).toFixed(1)} ms of CPU`);
  // a rename (a new comm, the same command line) is tested again, with the new name
  const renamed = { ...master, comm: "master" };
  assert.deepEqual(
    selectProcesses([renamed], { kind: "regex", re: new RegExp("^master$"), source: "^master$" }).map((p) => p.pid),
    [100],
  );
  assert.deepEqual(selectProcesses([master], { kind: "regex", re: new RegExp("^master$"), source: "^master$" }), []);
});
