/**
 * `npm run soak -- --minutes N [--seed S]`: the soak (lab.ts) for N minutes
 * with the schedule of seed S (a random one, printed, when none is given);
 * at its end the table of what happened; exit 1 when an invariant broke,
 * with the seed, the events so far and the lines around the breach.
 */
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "@scaph/common";
import { requireRoot } from "@scaph/test-support";
import { runSoak } from "./lab.js";
import { randomSeed } from "./schedule.js";

const positive =
  (what: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a number above 0, got "${v}".`);
    return n;
  };
const seeds = (v: string, prev: number[] = []): number[] => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`--seed must be a whole number, got "${v}".`);
  return [...prev, Number(v)];
};

const program = new Command("soak")
  .description("two libvirt hosts, two real guests over the channel, a seeded random schedule of events; every invariant checked all along")
  .option("--minutes <n>", "how long the schedule runs (the guests' boot comes first)", positive("--minutes"), 5)
  .option("--seed <n>", "the schedule's seed (again for several schedules, one after the other); a random one when none is given", seeds)
  .option("--table <file>", "also write the final table (Markdown) there")
  .action(async (o: { minutes: number; seed?: number[]; table?: string }) => {
    requireRoot("it starts two libvirtds and boots guests");
    const list = o.seed ?? [randomSeed()];
    const say = (l: string): void => void process.stdout.write(`soak: ${l}\n`);
    say(`seeds ${list.join(", ")} (replay with ${list.map((s) => `--seed ${s}`).join(" ")}), ${o.minutes} min`);
    const r = await runSoak({ seeds: list, minutes: o.minutes, say });
    process.stdout.write(`\n${r.table}\n`);
    for (const l of r.verdict.losses)
      say(
        `loss: ${l.vm} epoch ${l.epoch}: ${(l.uj / 1e6).toFixed(2)} J (${(l.uj / Math.max(1, l.stepUj)).toFixed(2)} steps) at ${l.causes.join(", ") || "no event"}`,
      );
    if (o.table) writeFileSync(o.table, `${r.table}\n`);
    if (r.verdict.breaches.length > 0) {
      process.stderr.write(`\n${r.report}\n`);
      process.exitCode = 1;
    } else say(`every invariant held (seeds ${list.join(", ")})`);
  });
await program.parseAsync();
