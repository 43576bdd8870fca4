import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/cli.js";
import { startBackground, waitFor } from "../helpers/processes.js";

const demo = join(repoRoot, "test/dist/lab/demo.js");

/**
 * npm run demo in `env`: the guest's metrics appear, with a real qemu or
 * the stand-in process as `standIn` says; Ctrl-C ends it with 0 and
 * removes its temporary directory.
 */
export async function runDemo(env: NodeJS.ProcessEnv, standIn: boolean): Promise<void> {
  const bg = startBackground(process.execPath, [demo], { ...process.env, ...env }, { group: true });
  try {
    const line = await waitFor(
      "the guest's metrics",
      () => /\[guest demo-vm\] host power ([\d.]+) W \(scaph_host_power_microwatts \d+\)/.exec(bg.output()),
      40_000,
    );
    assert.ok(Number(line[1]) > 0, bg.output());
    assert.match(bg.output(), /metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/);
    if (standIn) assert.match(bg.output(), /a stand-in process/);
    else assert.doesNotMatch(bg.output(), /a stand-in process/, "qemu-system-x86_64 is installed: the demo must use it");
    const tmp = /writes (\S+)\/trees\/demo-vm/.exec(bg.output())?.[1];
    assert.ok(tmp && existsSync(tmp));
    bg.child.kill("SIGINT");
    const code = await bg.stop();
    assert.equal(code, 0, bg.output());
    assert.equal(existsSync(tmp), false, "the demo removed its temporary directory");
  } finally {
    await bg.stop("SIGKILL");
  }
}
