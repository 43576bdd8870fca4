/**
 * The slow-peer matrix (a file per exporter, so that they run side by side:
 * slow-peers-*.test.ts): each sending exporter (riemann, warp10,
 * prometheus-push), its real sink in the real measurement loop, against a
 * peer in a process of its own that trickles, streams an endless or a huge
 * answer, floods before any question, resets, or is not there at all. For
 * each: the steps keep their pace (within 10% of the step), memory stays
 * bounded, what was not delivered is counted, and the log says it in a line
 * or two, not one per step.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createLogger, runEvery } from "@scaph/common";
import type { Logger } from "@scaph/common";
import { PrometheusPushSink } from "@scaph/common/prometheus-push";
import { RiemannSink } from "@scaph/common/riemann";
import { Warp10Sink } from "@scaph/common/warp10";
import { knownHost } from "@scaph/test-support";
import { freePort } from "../helpers/processes.js";
import { MODES } from "./slow-peer.js";

const STEP_S = 0.25;
const STEPS = 16;
const TIMEOUT_MS = 1000;
/** More memory than this after the run than before it is a leak (MiB). */
const MAX_RSS_GROWTH_MIB = 64;

const PEER = fileURLToPath(new URL("./slow-peer.js", import.meta.url));
const children: ChildProcess[] = [];

/** Starts the peer; resolves with its port. */
async function startPeer(proto: "http" | "riemann", mode: string): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [PEER, proto, mode], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const l of lines) {
    const m = /^port (\d+)$/.exec(l);
    if (m) return { port: Number(m[1]), child };
  }
  throw new Error(`the ${proto} peer (${mode}) ended before it listened`);
}

export type Exporter = "riemann" | "warp10" | "prometheus-push";

interface Sending {
  write(s: Parameters<RiemannSink["write"]>[0]): void;
  close(): Promise<void>;
  health: { sent: number; lost: number; failures: number };
}

function sinkFor(e: Exporter, port: number, log: Logger): Sending {
  const common = { log, filter: { kind: "top", n: 10 } as const, qemu: false, timeoutMs: TIMEOUT_MS };
  const base = new URL(`http://127.0.0.1:${port}`);
  if (e === "riemann") return new RiemannSink({ ...common, host: "127.0.0.1", port, backoff: { minMs: 200, maxMs: 1000 } });
  if (e === "warp10") return new Warp10Sink({ ...common, base, token: "t" });
  return new PrometheusPushSink({ ...common, base, suffix: "metrics", job: "slow-peer", instance: "matrix" });
}

/**
 * What a peer's answers amount to: an HTTP 200 followed by a body nobody reads to its end (huge, endless)
 * is a delivery; everything else delivers nothing.
 */
function delivers(e: Exporter, mode: string): boolean {
  return e !== "riemann" && (mode === "huge" || mode === "endless");
}

const DOES: Record<string, string> = {
  trickle: "trickles its answer a byte at a time",
  endless: "answers an endless body (endless ok frames)",
  huge: "announces a 64 GiB body (a 64 MiB frame)",
  unsolicited: "floods before any question",
  reset: "resets each connection",
  refused: "is not there (connection refused)",
};

const rssMiB = (): number => process.memoryUsage().rss / 2 ** 20;

/** The matrix's row for one exporter: a test per peer, in the calling test file. */
export function slowPeerMatrix(e: Exporter): void {
  after(() => {
    for (const c of children) c.kill("SIGKILL");
  });
  for (const mode of [...MODES, "refused"]) {
    test(`${e} against a peer that ${DOES[mode] ?? mode}: pace, memory, losses, log`, async () => {
      const peer = mode === "refused" ? { port: await freePort(), child: null } : await startPeer(e === "riemann" ? "riemann" : "http", mode);
      const lines: string[] = [];
      const log = createLogger({ level: "warn", write: (l) => lines.push(l) });
      const sink = sinkFor(e, peer.port, log);
      const h = await knownHost();
      try {
        await h.step();
        const rss0 = rssMiB();
        const ticks: number[] = [];
        await runEvery({ stepS: STEP_S, timeoutS: STEP_S * STEPS }, async () => {
          ticks.push(performance.now());
          sink.write(await h.step());
        });
        await sink.close();
        const rss1 = rssMiB();
        const paceS = ((ticks.at(-1) ?? 0) - (ticks[0] ?? 0)) / (ticks.length - 1) / 1000;
        const { sent, lost, failures } = sink.health;
        console.log(
          `# ${e} / ${mode}: step ${(paceS * 1000).toFixed(0)} ms (asked ${STEP_S * 1000}), RSS ${rss0.toFixed(0)} -> ${rss1.toFixed(0)} MiB, ` +
            `sent ${sent}, not delivered ${lost} in ${failures} failures, ${lines.length} log lines`,
        );
        assert.equal(ticks.length, STEPS);
        assert.ok(Math.abs(paceS - STEP_S) <= 0.1 * STEP_S, `steps every ${paceS} s, asked ${STEP_S} s`);
        assert.ok(rss1 - rss0 < MAX_RSS_GROWTH_MIB, `RSS grew ${(rss1 - rss0).toFixed(1)} MiB`);
        if (delivers(e, mode)) {
          assert.equal(failures, 0, lines.join("\n"));
          assert.ok(sent > 0);
        } else {
          assert.equal(sent, 0, "nothing counted as delivered");
          assert.ok(failures > 0 && lost > 0, `not delivered: ${lost} in ${failures} failures`);
        }
        // One WARN when delivery starts to fail; the reminder comes after a minute, so none within these seconds.
        assert.ok(lines.length <= (delivers(e, mode) ? 0 : 1), `log lines:\n${lines.join("\n")}`);
      } finally {
        peer.child?.kill("SIGKILL");
        await h.cleanup();
      }
    });
  }
}
