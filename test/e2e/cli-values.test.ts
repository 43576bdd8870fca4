/**
 * Every option that takes a URL, a host, a path or a number refuses a bad
 * value with exit 1, a message naming the option, and no stack trace
 * (hostile inputs, round 3, items 16 and 17).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { guestBin, hostBin, runNode } from "../helpers/cli.js";

const BAD: [bin: "host" | "guest", args: string[], says: RegExp][] = [
  ["host", ["warp10", "-t", "x", "-H", "a b"], /--host must be a host name or an IP address, got "a b"/],
  ["host", ["warp10", "-t", "x", "-H", "a/b", "-p", "1"], /--host must be a host name or an IP address, got "a\/b"/],
  ["host", ["prometheus-push", "-H", "[::1", "-p", "9"], /--host must be a host name or an IP address/],
  ["host", ["prometheus-push", "-H", "a b"], /--host must be a host name/],
  ["host", ["riemann", "-a", "x y"], /--address must be a host name/],
  ["host", ["prometheus-push", "-p", "0"], /--port must be >= 1/],
  ["host", ["prometheus-push", "-p", "70000"], /--port must be a TCP port/],
  ["host", ["stdout", "-t", "1", "-s", "1e-300"], /--step must be from 0\.001 to \d+ seconds/],
  ["host", ["json", "-s", "1e308"], /--step must be from 0\.001/],
  ["host", ["json", "-t", "1e308"], /--timeout must be at most \d+ seconds/],
  ["host", ["stdout", "-s", "abc"], /--step must be a number/],
  ["host", ["riemann", "-d", "0"], /--dispatch must be from 0\.001/],
  ["host", ["qemu", "-s", "1e9"], /--step must be from 0\.001/],
  ["host", ["qemu", "--substeps", "0"], /--substeps must be >= 1/],
  ["host", ["stdout", "-r", "--vm"], /--regex-filter wants a regular expression, got the option --vm/],
  ["host", ["prometheus", "--step", "-1"], /--step must be from 0\.001/],
  [
    "host",
    ["json", "-f", "/nonexistent/dir/x.json", "--powercap-path", "/nonexistent"],
    /-f cannot write \/nonexistent\/dir\/x\.json: \/nonexistent\/dir does not exist/,
  ],
  ["guest", ["warp10", "-H", "a b"], /--host must be a host name/],
  ["guest", ["json", "-s", "0", "--powercap-path", "/nonexistent"], /--step plus --step-nano must be from 0\.001 to \d+ seconds, got 0 s/],
  ["host", ["json", "-s", "0", "-n", "1", "--powercap-path", "/nonexistent"], /--step plus --step-nano must be from 0\.001/],
  ["guest", ["channel", "--substeps", "x"], /--substeps must be an integer/],
];

test("bad values: exit 1, the option named, no stack trace", async () => {
  for (const [bin, args, says] of BAD) {
    const r = await runNode(bin === "host" ? hostBin : guestBin, args);
    const what = `scaph-${bin} ${args.join(" ")}`;
    assert.equal(r.code, 1, `${what}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, says, what);
    assert.doesNotMatch(r.stderr, /^\s+at .*:\d+:\d+\)?$|internal error/im, `${what}: a stack trace\n${r.stderr}`);
  }
});
