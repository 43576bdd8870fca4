/** scaph-guest's exposition checked by promtool (Debian's prometheus): clean but for the names kept for Scaphandre's dashboards. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { promtoolProblems } from "@scaph/test-support";
import { sample } from "../helpers/scrape.js";
import { guestExporterOnFixtures } from "./guest-on-fixtures.js";

test("scaph-guest prometheus on fixture roots: promtool check metrics is clean but for Scaphandre's names", async () => {
  const { body, stop } = await guestExporterOnFixtures();
  try {
    assert.equal(sample(body, "scaph_host_energy_microjoules"), 3_500_000, "the step with the fixtures' energy");
    assert.deepEqual(promtoolProblems(body), []);
  } finally {
    await stop();
  }
});
