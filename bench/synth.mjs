// A synthetic host for the benchmarks: a /proc with N processes (M of them
// qemu VMs owned by root, with libvirt-style cgroups), a cgroup v2 tree and a
// one-socket powercap tree, written as plain files under one directory.
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const CMDLINES = [
  ["/usr/sbin/nginx", "-g", "daemon off;"],
  ["/usr/bin/python3.11", "/opt/app/worker.py", "--queue", "default", "--concurrency", "4"],
  ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main", "-c", "config_file=/etc/postgresql/15/main/postgresql.conf"],
  ["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "0123456789abcdef0123456789abcdef", "-address", "/run/containerd/containerd.sock"],
  ["/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "-Xmx2g", "-jar", "/opt/service/service.jar"],
];

function stat(pid, comm, start, utime) {
  return `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 1200 0 3 0 ${utime} ${Math.floor(utime / 3)} 0 0 20 0 4 0 ${start} 2147483648 26214 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`;
}

/** Writes the synthetic host under `root`; returns its roots. */
export function synthHost(root, { processes, vms }) {
  const proc = join(root, "proc");
  const cgroup = join(root, "cgroup");
  const powercap = join(root, "powercap");
  mkdirSync(proc, { recursive: true });
  writeFileSync(join(proc, "stat"), "cpu  1000000 2000 300000 9000000 5000 1000 500 0 0 0\ncpu0 500000 1000 150000 4500000 2500 500 250 0 0 0\nintr 0\nctxt 0\nbtime 1700000000\nprocesses 5000\n");
  writeFileSync(join(proc, "uptime"), "100000.00 180000.00\n");
  writeFileSync(join(proc, "loadavg"), "0.52 0.61 0.70 2/1234 5678\n");
  writeFileSync(join(proc, "meminfo"), "MemTotal:       16318480 kB\nMemFree:         1203344 kB\nMemAvailable:    9811008 kB\nSwapTotal:       2097148 kB\nSwapFree:        2097148 kB\n");
  for (let i = 0; i < processes; i++) {
    const pid = 1000 + i;
    const dir = join(proc, String(pid));
    mkdirSync(dir);
    const isVm = i < vms;
    if (isVm) {
      const name = `vm-${i}`;
      const uuid = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
      const argv = ["/usr/bin/qemu-system-x86_64", "-name", `guest=${name},debug-threads=on`, "-S", "-uuid", uuid, "-machine", "pc-q35-7.2,usb=off", "-m", "2048", "-smp", "2"];
      writeFileSync(join(dir, "stat"), stat(pid, "qemu-system-x86", 5000 + i, 100000 + i));
      writeFileSync(join(dir, "cmdline"), argv.join("\0") + "\0");
      symlinkSync("/usr/bin/qemu-system-x86_64", join(dir, "exe"));
      writeFileSync(join(dir, "status"), `Name:\tqemu-system-x86\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n`);
      const scope = `machine-qemu\\x2d${i + 1}\\x2d${name.replace(/-/g, "\\x2d")}.scope`;
      writeFileSync(join(dir, "cgroup"), `0::/machine.slice/${scope}/libvirt/emulator\n`);
      mkdirSync(join(cgroup, "machine.slice", scope), { recursive: true });
      writeFileSync(join(cgroup, "machine.slice", scope, "cpu.stat"), `usage_usec ${1_000_000_000 + i}\nuser_usec 900000000\nsystem_usec 100000000\n`);
    } else {
      const argv = CMDLINES[i % CMDLINES.length];
      writeFileSync(join(dir, "stat"), stat(pid, argv[0].split("/").pop().slice(0, 15), 6000 + i, 1000 + (i % 977)));
      writeFileSync(join(dir, "cmdline"), argv.join("\0") + "\0");
      symlinkSync(argv[0], join(dir, "exe"));
      writeFileSync(join(dir, "status"), `Name:\tx\nUid:\t33\t33\t33\t33\n`);
      // a container host's mix: a third in Docker containers, a third in pods' (ten processes a container), a third on the host
      const c = (Math.floor(i / 10) % 4096).toString(16).padStart(64, "0");
      const pod = `${(Math.floor(i / 10) % 4096).toString(16).padStart(8, "0")}_0000_4000_8000_000000000000`;
      writeFileSync(
        join(dir, "cgroup"),
        i % 3 === 0
          ? `0::/system.slice/docker-${c}.scope\n`
          : i % 3 === 1
            ? `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${pod}.slice/cri-containerd-${c}.scope\n`
            : "0::/system.slice/app.service\n",
      );
    }
  }
  const zones = [["intel-rapl:0", "package-0", 123456789], ["intel-rapl:0:0", "core", 23456789], ["intel-rapl:0:1", "uncore", 3456789], ["intel-rapl:0:2", "dram", 456789]];
  for (const [id, name, uj] of zones) {
    mkdirSync(join(powercap, id), { recursive: true });
    writeFileSync(join(powercap, id, "name"), `${name}\n`);
    writeFileSync(join(powercap, id, "energy_uj"), `${uj}\n`);
    writeFileSync(join(powercap, id, "max_energy_range_uj"), id === "intel-rapl:0:2" ? "65712999613\n" : "262143328850\n");
  }
  return { proc, cgroup, powercap };
}

/**
 * Moves the synthetic host every `everyMs`: the package and dram counters
 * gain 30 W and 3 W, the machine's busy CPU time and each VM's cgroup
 * usage grow (each VM busy a tenth of a CPU), so that every VM gets energy
 * each step, as on a host that runs. Each file is replaced whole (a
 * temporary file, then rename), so a reader never sees half of one.
 * Returns stop().
 */
export function moveSynthHost(root, roots, { vms }, everyMs = 100) {
  let n = 0;
  const put = (file, text) => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };
  const tick = () => {
    n++;
    const s = n * everyMs; // ms since the start
    put(join(roots.proc, "stat"), `cpu  ${1000000 + Math.floor(s / 10)} 2000 300000 9000000 5000 1000 500 0 0 0\ncpu0 ${500000 + Math.floor(s / 10)} 1000 150000 4500000 2500 500 250 0 0 0\nintr 0\nctxt 0\nbtime 1700000000\nprocesses 5000\n`);
    put(join(roots.proc, "uptime"), `${(100000 + s / 1000).toFixed(2)} 180000.00\n`);
    put(join(roots.powercap, "intel-rapl:0", "energy_uj"), `${123456789 + 30 * 1000 * s}\n`);
    put(join(roots.powercap, "intel-rapl:0:2", "energy_uj"), `${456789 + 3 * 1000 * s}\n`);
    for (let i = 0; i < vms; i++) {
      const name = `vm-${i}`;
      const scope = `machine-qemu\\x2d${i + 1}\\x2d${name.replace(/-/g, "\\x2d")}.scope`;
      put(join(roots.cgroup, "machine.slice", scope, "cpu.stat"), `usage_usec ${1_000_000_000 + i + 100 * s}\nuser_usec 900000000\nsystem_usec 100000000\n`);
    }
  };
  const timer = setInterval(tick, everyMs);
  return { stop: () => clearInterval(timer) };
}
