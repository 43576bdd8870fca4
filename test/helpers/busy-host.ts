import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree } from "@scaph/test-support";
import type { SimulatedZone } from "@scaph/test-support";
import type { Background } from "./processes.js";
import { startBusyQemu, writeBusyBootSector } from "./processes.js";

/** A temporary dir, a simulated powercap root of known power, and a real qemu VM burning CPU. */
export interface BusyHost {
  dir: string;
  powercap: string;
  vm: Background;
  stop(): Promise<void>;
}

export async function startBusyHost(vmName: string, zones: SimulatedZone[], uuid?: string): Promise<BusyHost> {
  const dir = await mkdtemp(join(tmpdir(), "scaph-e2e-"));
  const powercap = await copyFixture("powercap/intel-1socket");
  const sim = new PowerSimulator({ powercapRoot: powercap, zones });
  const img = join(dir, "boot.img");
  await writeBusyBootSector(img);
  const vm = startBusyQemu(vmName, img, uuid);
  sim.start();
  return {
    dir,
    powercap,
    vm,
    async stop() {
      await vm.stop();
      await sim.stop();
      await removeTree(powercap);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
