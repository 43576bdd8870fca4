/**
 * The soak in the system tier: five minutes of the seeded schedule, half
 * with a fixed seed (the same events every run) and half with a random one
 * (printed: replay it with npm run soak -- --seed N), on two libvirt hosts
 * with two real guests. Every invariant must hold all along.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { requireRoot } from "@scaph/test-support";
import { runSoak } from "./lab.js";
import { randomSeed } from "./schedule.js";

test(
  "soak: 5 minutes of migrations, restarts, saves, resets, unplugs, floods and a full state dir; every invariant holds",
  { timeout: 1_200_000 },
  async (t) => {
    requireRoot("it starts two libvirtds and boots guests");
    const seeds = [20261206, randomSeed()];
    t.diagnostic(`seeds ${seeds.join(", ")} (replay: npm run soak -- --minutes 5 ${seeds.map((s) => `--seed ${s}`).join(" ")})`);
    const r = await runSoak({ seeds, minutes: 5, say: (l) => t.diagnostic(l) });
    for (const line of r.table.split("\n")) t.diagnostic(line);
    for (const l of r.verdict.losses)
      t.diagnostic(
        `loss: ${l.vm} epoch ${l.epoch}: ${(l.uj / 1e6).toFixed(2)} J (${(l.uj / Math.max(1, l.stepUj)).toFixed(2)} steps) at ${l.causes.join(", ") || "no event"}`,
      );
    assert.deepEqual(r.verdict.breaches, [], r.report);
    assert.ok(
      r.verdict.energy.every((e) => e.countedUj > 0),
      "each guest counted energy",
    );
  },
);
