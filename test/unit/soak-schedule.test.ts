/** The soak's schedule: the same for the same seed (a run is replayed with --seed), every event type in a long enough run. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { HOST_EVENTS, schedule, VM_EVENTS } from "../soak/schedule.js";

test("a seed gives one schedule, another seed another; every type comes in five minutes; targets are hosts or VMs as the type wants", () => {
  const a = schedule(7, 300, ["A", "B"], ["soak-g1", "soak-g2"]);
  assert.deepEqual(schedule(7, 300, ["A", "B"], ["soak-g1", "soak-g2"]), a);
  assert.notDeepEqual(schedule(8, 300, ["A", "B"], ["soak-g1", "soak-g2"]).events, a.events);
  const types = new Set(a.events.map((e) => e.type));
  for (const t of [...HOST_EVENTS, ...VM_EVENTS]) assert.ok(types.has(t), `${t} in ${[...types].join(", ")}`);
  for (const e of a.events) {
    assert.ok(((HOST_EVENTS as readonly string[]).includes(e.type) ? ["A", "B"] : ["soak-g1", "soak-g2"]).includes(e.target), JSON.stringify(e));
    assert.ok(e.atS >= 10 && e.atS < 285);
  }
  for (let i = 1; i < a.events.length; i++) assert.ok(a.events[i]!.atS - a.events[i - 1]!.atS >= 10);
  assert.ok(a.power.length >= 10 && a.power.every((p) => p.watts >= 10 && p.watts <= 45));
});
