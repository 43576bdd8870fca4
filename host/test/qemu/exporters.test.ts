/** --qemu on the sending exporters: qemu processes carry vmname, and the per-VM series go out too. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger, MetricsModel } from "@scaph/common";
import { RiemannSink } from "@scaph/common/riemann";
import { startRiemannServer } from "@scaph/test-support";
import { gtsLines } from "@scaph/common/warp10";
import { qemuRig, WEB_CG } from "./rig.js";

test("riemann and warp10 with --qemu: vmname on qemu processes, per-VM series", async () => {
  const q = await qemuRig({ keepProcesses: true }); // exporters read the processes, as with --prometheus
  const srv = await startRiemannServer();
  try {
    await q.step();
    await q.rig.power.advance("intel-rapl:0", 20_000_000);
    await q.rig.proc.advanceBusy(400);
    await q.advanceCgroup(WEB_CG, 1_000_000);
    const s = await q.step(2);
    const sink = new RiemannSink({ host: "127.0.0.1", port: srv.port, log: createLogger(), filter: { kind: "top", n: 50 }, qemu: true });
    sink.write(s.snapshot);
    await sink.close();
    const events = srv.msgs[0]?.events ?? [];
    const web = events.find((e) => e.service === "scaph_vm_power_microwatts" && e.attributes?.some((a) => a.key === "vmname" && a.value === "web-1"));
    assert.equal(web?.metric_d, s.vms.find((v) => v.name === "web-1")?.powerUw);
    const proc = events.find(
      (e) => e.service?.startsWith("scaph_process_power_consumption_microwatts_") && e.attributes?.some((a) => a.key === "vmname" && a.value === "web-1"),
    );
    assert.ok(proc, "the qemu process of web-1 carries vmname");
    const model = new MetricsModel({ filter: { kind: "top", n: 50 }, qemu: true });
    model.update(s.snapshot);
    const lines = gtsLines(model, 1);
    assert.ok(
      lines.some((l) => /^1\/\/ scaph_vm_power_microwatts\{vmname=web-1,/.test(l)),
      lines.join("\n"),
    );
    assert.ok(lines.some((l) => l.startsWith("1// scaph_process_power_consumption_microwatts{") && l.includes("vmname=web-1")));
  } finally {
    await srv.close();
    await q.cleanup();
  }
});
