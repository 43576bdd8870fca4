import { test } from "node:test";
import { runDemo } from "./demo-run.js";

test("npm run demo with a stand-in VM process (no qemu on the PATH): the guest's metrics, then a clean stop on Ctrl-C", () =>
  runDemo({ PATH: "/nonexistent" }, true));
