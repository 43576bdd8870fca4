/**
 * A stand-in for one hypervisor's kernel, for tests about what happens to
 * scaph's series after the exporter (the fleet test): a /proc of a few
 * processes and qemu VMs whose CPU time moves, a RAPL powercap tree whose
 * energy moves (test-support's PowerSimulator), and a libvirt test-driver
 * node that names the VMs, with OpenStack Nova's metadata. scaph-host qemu
 * reads them as it reads a real host's (--procfs-path, --powercap-path,
 * --connect test:///...). Many of them run on one machine, with no qemu
 * and no root-owned libvirtd; what the kernel and libvirtd themselves do is
 * proved by the labs and the e2e tests with real qemu.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { copyFixture, PowerSimulator, removeTree } from "@scaph/test-support";

/** A VM of the stand-in: libvirt's name and uuid, its Nova project, and the CPUs it keeps busy. */
export interface SyntheticVm {
  name: string;
  uuid: string;
  project: string;
  cpus: number;
}

const CLOCK_TICKS = 100;

function statLine(pid: number, comm: string, start: number): string {
  return `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 1200 0 3 0 1000 300 0 0 20 0 4 0 ${start} 2147483648 26214 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`;
}

/** Nova's domain metadata (nova 1.1), as nova-compute writes it. */
function novaMetadata(vm: SyntheticVm): string {
  return `<metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>${vm.name}</nova:name><nova:owner><nova:user uuid="u">alice</nova:user><nova:project uuid="p-${vm.project}">${vm.project}</nova:project></nova:owner></nova:instance></metadata>`;
}

export class SyntheticHypervisor {
  readonly proc: string;
  readonly libvirtXml: string;
  private powercap = "";
  private sim: PowerSimulator | null = null;
  private running = false;
  private readonly vms = new Map<string, { vm: SyntheticVm; pid: number }>();
  private nextPid = 2000;

  /**
   * `watts`: the package's power; `idleCpus`: busy CPUs no VM uses (the host's own processes).
   * `known`: every VM this host's libvirt knows (defined there, as a migration's destination is).
   */
  constructor(
    readonly dir: string,
    private readonly watts: number,
    private readonly idleCpus: number,
    known: readonly SyntheticVm[],
  ) {
    this.proc = join(dir, "proc");
    mkdirSync(this.proc, { recursive: true });
    writeFileSync(
      join(this.proc, "stat"),
      "cpu  100000 0 30000 900000 0 0 0 0 0 0\ncpu0 50000 0 15000 450000 0 0 0 0 0 0\ncpu1 50000 0 15000 450000 0 0 0 0 0 0\nintr 0\nctxt 0\nbtime 1700000000\nprocesses 5000\n",
    );
    writeFileSync(join(this.proc, "uptime"), "100000.00 180000.00\n");
    writeFileSync(join(this.proc, "loadavg"), "0.52 0.61 0.70 2/1234 5678\n");
    writeFileSync(join(this.proc, "meminfo"), "MemTotal:       16318480 kB\nMemFree:         1203344 kB\nMemAvailable:    9811008 kB\n");
    this.addProcess(1, "systemd", ["/sbin/init"], "0::/init.scope\n");
    this.libvirtXml = join(dir, "node.xml");
    const domains = known.map(
      (vm) =>
        `<domain type="test"><name>${vm.name}</name><uuid>${vm.uuid}</uuid>${novaMetadata(vm)}<memory>1048576</memory><vcpu>2</vcpu><os><type arch="x86_64">hvm</type></os></domain>`,
    );
    writeFileSync(
      this.libvirtXml,
      `<?xml version="1.0"?>\n<node><cpu><mhz>3000</mhz><model>i686</model><active>2</active><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads></cpu><memory>16777216</memory>${domains.join("")}</node>\n`,
    );
  }

  /** The powercap tree scaph reads (--powercap-path), once prepare() made it. */
  get powercapPath(): string {
    return this.powercap;
  }

  private addProcess(pid: number, comm: string, argv: readonly string[], cgroup: string): void {
    const d = join(this.proc, String(pid));
    mkdirSync(d);
    writeFileSync(join(d, "stat"), statLine(pid, comm, 5000 + pid));
    writeFileSync(join(d, "cmdline"), argv.join("\0") + "\0");
    writeFileSync(join(d, "status"), `Name:\t${comm}\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n`);
    writeFileSync(join(d, "cgroup"), cgroup);
    symlinkSync(argv[0]!, join(d, "exe"));
  }

  /** Starts a qemu for `vm` (a new pid: a migration's destination is a new process). */
  async runVm(vm: SyntheticVm): Promise<void> {
    const pid = this.nextPid++;
    // outside machine.slice: its CPU time is the process's (what the simulator moves), not a cgroup's
    this.addProcess(
      pid,
      "qemu-system-x86",
      ["/usr/bin/qemu-system-x86_64", "-name", `guest=${vm.name},debug-threads=on`, "-uuid", vm.uuid, "-m", "1024"],
      "0::/system.slice/qemu-test.service\n",
    );
    this.vms.set(vm.uuid, { vm, pid });
    await this.restartSimulator();
  }

  /** The qemu of `uuid` ends (a migration's source). */
  async stopVm(uuid: string): Promise<void> {
    const r = this.vms.get(uuid);
    if (!r) throw new Error(`no VM ${uuid} on ${this.dir}`);
    this.vms.delete(uuid);
    await this.restartSimulator();
    rmSync(join(this.proc, String(r.pid)), { recursive: true, force: true });
  }

  /** Makes the powercap tree, still: nothing moves before start(). */
  async prepare(): Promise<void> {
    this.powercap = await copyFixture("powercap/intel-1socket");
  }

  /** Starts the clock: energy and CPU time move from now on. */
  async start(): Promise<void> {
    if (!this.powercap) await this.prepare();
    this.running = true;
    await this.restartSimulator();
  }

  /** Energy and CPU time stop moving (the fleet test reads what the exporters counted once nothing more comes). */
  async freeze(): Promise<void> {
    this.running = false;
    await this.sim?.stop();
    this.sim = null;
  }

  private async restartSimulator(): Promise<void> {
    if (!this.running) return;
    await this.sim?.stop();
    this.sim = new PowerSimulator({
      powercapRoot: this.powercap,
      zones: [{ zone: "intel-rapl:0", watts: this.watts }],
      procRoot: this.proc,
      processes: [...this.vms.values()].map((r) => ({ pid: r.pid, cpus: r.vm.cpus })),
      extraBusyCpus: this.idleCpus,
      clockTicks: CLOCK_TICKS,
      periodMs: 200,
    });
    this.sim.start();
  }

  async stop(): Promise<void> {
    await this.freeze();
    if (this.powercap) await removeTree(this.powercap);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
