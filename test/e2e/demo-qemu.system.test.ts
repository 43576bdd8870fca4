import { test } from "node:test";
import { requireCommand } from "@scaph/test-support";
import { runDemo } from "./demo-run.js";

test("npm run demo with a real qemu: the guest's metrics, then a clean stop on Ctrl-C", () => {
  requireCommand("qemu-system-x86_64", "qemu-system-x86");
  return runDemo({}, false);
});
