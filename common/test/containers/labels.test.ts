/**
 * Docker labels as Prometheus labels (hostile inputs, round 3, items 12 and
 * 13): keys that make one name never overwrite each other; big values are
 * cut and there are at most MAX_DOCKER_LABELS of them, so a page never
 * grows past what a string holds (10 labels of 100 KB answered HTTP 500).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { containerLabels, MAX_DOCKER_LABELS, MAX_LABEL_VALUE } from "../../src/containers/info.js";
import type { ContainerInfo } from "../../src/containers/info.js";

const container = (dockerLabels: Record<string, string>): ContainerInfo => ({
  key: `docker/${"a".repeat(64)}`,
  scheduler: "docker",
  id: "a".repeat(64),
  names: ["web"],
  runtime: "docker",
  dockerLabels,
});

test("a.b, a_b and a-b, é and the empty key: each its own label, the same names every time, in the keys' order", () => {
  const l = containerLabels(container({ "a.b": "dot", a_b: "underscore", "a-b": "hyphen", é: "accent", "": "empty", _: "score" }), /.*/);
  assert.deepEqual(Object.fromEntries(Object.entries(l).filter(([k]) => k.startsWith("container_label_"))), {
    container_label_: "empty",
    container_label__: "score",
    container_label___2: "accent",
    container_label_a_b: "hyphen",
    container_label_a_b_2: "dot",
    container_label_a_b_3: "underscore",
  });
  assert.deepEqual(
    containerLabels(container({ a_b: "underscore", "a.b": "dot", "a-b": "hyphen" }), /.*/),
    containerLabels(container({ "a-b": "hyphen", "a.b": "dot", a_b: "underscore" }), /.*/),
    "whatever the keys' order in the API's answer",
  );
});

test("ten labels of 100 KB: each cut to its bound, never inside a character; at most MAX_DOCKER_LABELS labels", () => {
  const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`big${i}`, "x".repeat(100_000)]));
  const l = containerLabels(container(big), /^big/);
  const values = Object.entries(l)
    .filter(([k]) => k.startsWith("container_label_big"))
    .map(([, v]) => v);
  assert.equal(values.length, 10);
  for (const v of values) assert.ok(v.length <= MAX_LABEL_VALUE && v.endsWith("..."), `${v.length}`);
  const emoji = containerLabels(container({ e: "y".repeat(MAX_LABEL_VALUE - 4) + "\u{1F600}".repeat(10) }), /.*/).container_label_e ?? "";
  assert.doesNotThrow(() => encodeURIComponent(emoji));
  const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${String(i).padStart(3, "0")}`, "v"]));
  assert.equal(Object.keys(containerLabels(container(many), /.*/)).filter((k) => k.startsWith("container_label_")).length, MAX_DOCKER_LABELS);
});
