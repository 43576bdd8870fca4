import { test } from "node:test";
import assert from "node:assert/strict";
import { counterDelta, isCounterReset } from "../../src/index.js";

test("a growing counter: the plain difference", () => {
  assert.equal(counterDelta(1000, 4500, 262143328850), 3500);
});

test("a wrapped counter: (cur - prev + max)", () => {
  const max = 262143328850;
  assert.equal(counterDelta(max - 100, 400, max), 500);
  assert.equal(isCounterReset(max - 100, 400, max), false);
});

test("a decrease without max is a reset: 0, never negative, never a spike", () => {
  assert.equal(counterDelta(5000, 100, null), 0);
  assert.equal(isCounterReset(5000, 100, null), true);
});

test("a previous value above the max (garbage) is a reset, not a huge wrap", () => {
  assert.equal(counterDelta(10_000, 5, 1000), 0);
});

test("a decrease that would wrap more than half the range is a tree rewritten lower: a reset, no spike", () => {
  const max = 262143328850;
  assert.equal(counterDelta(100_000_000, 5_000_000, max), 0);
  assert.equal(isCounterReset(100_000_000, 5_000_000, max), true);
});
