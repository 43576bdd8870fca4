#!/usr/bin/env node
// npm run package: what an operator installs, in dist/packages/ (or --out DIR):
//   scaph-host_<version>_amd64.deb    the host: bundle in /usr/lib/scaph-host, units, /etc/default, man page
//   scaph-guest_<version>_amd64.deb   the guest: the executable (no Node needed), units, udev rule, man page
//   scaph-guest-<version>.cjs         the guest as one file, for any Linux with Node >= 18
//   scaph-guest-<version>-linux-x64   the guest executable alone (Node's single executable application)
//   scaph-host/                       with --only host-bundle: the host's files for Node >= 20 (main.js; the container image)
// --only host-deb,guest-deb,guest-bundle,guest-sea,host-bundle builds those parts (the tests, the Dockerfile).
// Run `tsc -b` first.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { bundleGuest, bundleHost } from "./bundle.mjs";
import { buildDeb } from "./deb.mjs";
import { postinst, postrm, prerm, SCAPHANDRE_SHIM, scaphandreAlternative } from "./debian/systemd-scripts.mjs";
import { manPage, sourceDate } from "./man.mjs";
import { repo, version } from "./paths.mjs";
import { buildSea } from "./sea.mjs";

const PARTS = ["host-deb", "guest-deb", "guest-bundle", "guest-sea", "host-bundle"];
const DEFAULT_PARTS = ["host-deb", "guest-deb", "guest-bundle", "guest-sea"];
const { values } = parseArgs({ options: { out: { type: "string", default: join(repo, "dist/packages") }, only: { type: "string" }, help: { type: "boolean" } } });
if (values.help) {
  process.stdout.write(readFileSync(new URL(import.meta.url), "utf8").split("\n").filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n") + "\n");
  process.exit(0);
}
const only = values.only ? values.only.split(",") : DEFAULT_PARTS;
for (const p of only) if (!PARTS.includes(p)) throw new Error(`--only: unknown part ${p} (one of ${PARTS.join(", ")})`);
const out = resolve(values.out);
const work = mkdtempSync(join(tmpdir(), "scaph-package-"));
const text = (p) => readFileSync(join(repo, p), "utf8");
const date = sourceDate(repo);
const say = (s) => process.stderr.write(`package: ${s}\n`);
mkdirSync(out, { recursive: true });

const docs = (pkg) => [
  { dest: `/usr/share/doc/${pkg}/README.md`, src: join(repo, "README.md") },
  // the pages the README links to, where its links find them
  ...readdirSync(join(repo, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => ({ dest: `/usr/share/doc/${pkg}/docs/${f}`, src: join(repo, "docs", f) })),
  { dest: `/usr/share/doc/${pkg}/copyright`, content: `scaph\nLicense: Apache-2.0\nOn Debian systems, the license is in /usr/share/common-licenses/Apache-2.0.\n` },
];
const unit = (name) => ({ dest: `/lib/systemd/system/${name}`, src: join(repo, "systemd", name), mode: 0o644 });
const man = async (program, name, extra) => ({
  dest: `/usr/share/man/man1/${name}.1.gz`,
  content: manPage(program, { version, date, extra }),
  gzip: true,
});

try {
  let guestBundle = null;
  const needGuestBundle = only.some((p) => p.startsWith("guest"));
  if (needGuestBundle) {
    guestBundle = await bundleGuest(join(work, "scaph-guest.cjs"), version);
    if (only.includes("guest-bundle")) say(`${copyTo(guestBundle, `scaph-guest-${version}.cjs`)}`);
  }
  let sea = null;
  if (only.includes("guest-sea") || only.includes("guest-deb")) {
    sea = await buildSea(guestBundle, join(work, "scaph-guest"), work);
    if (only.includes("guest-sea")) say(copyTo(sea, `scaph-guest-${version}-linux-x64`));
  }
  if (only.includes("host-bundle")) say(await bundleHost(join(out, "scaph-host"), version));
  if (only.includes("host-deb")) {
    const lib = await bundleHost(join(work, "host"), version);
    const { hostProgram } = await import(join(repo, "host/dist/src/cli.js"));
    const deb = buildDeb(
      {
        name: "scaph-host",
        version,
        arch: "amd64",
        // its own Node (below): nothing newer than Debian 12 and Ubuntu 22.04 ship
        depends: ["libc6 (>= 2.28)", "libstdc++6", "libgcc-s1", "libvirt0"],
        recommends: ["libvirt-daemon-system"],
        section: "admin",
        summary: "power of a Linux host (RAPL), split among its processes and virtual machines",
        description: `scaph-host reads Intel/AMD RAPL energy through the powercap tree, splits it among
processes by CPU time, and gives each qemu/KVM virtual machine its share: as a
powercap tree the guest reads over virtiofs or 9p (Scaphandre-compatible), or
over a virtio-serial channel. On bare metal it exports Prometheus metrics,
JSON or text, like Scaphandre.`,
        files: [
          { dest: "/usr/lib/scaph-host", src: lib },
          // The runtime it was built and tested with, private to it: no distribution's nodejs is needed
          // (Debian 12 and Ubuntu 22.04 ship none >= 20), and none is touched.
          { dest: "/usr/lib/scaph-host/node", src: process.execPath, mode: 0o755 },
          { dest: "/usr/lib/scaph-host/scaphandre", content: SCAPHANDRE_SHIM, mode: 0o755 },
          // the daemon's loop allocates little and briefly: a small young generation, an old one grown by
          // 20 % at a time from 4 MB, one malloc arena and page-sized buffers given back at once keep its RSS low (docs/benchmarks.md): as host/bin/scaph-host.js
          { dest: "/usr/bin/scaph-host", content: `#!/bin/sh\nexport MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072\nexec /usr/lib/scaph-host/node --max-semi-space-size=1 --heap-growing-percent=20 --initial-heap-size=4 /usr/lib/scaph-host/main.js "$@"\n`, mode: 0o755 },
          unit("scaph-host-qemu.service"),
          unit("scaph-host-prometheus.service"),
          { dest: "/etc/default/scaph-host", src: join(repo, "deploy/packaging/debian/scaph-host.default"), mode: 0o644 },
          await man(hostProgram(), "scaph-host", [
            { title: "Files", text: "/etc/default/scaph-host\n    the services' options\n/var/lib/libvirt/scaphandre\n    the VMs' trees, the daemon's state and status files" },
            { title: "See also", text: "scaph-guest(1), virsh(1), /usr/share/doc/scaph-host/README.md" },
          ]),
          ...docs("scaph-host"),
        ],
        conffiles: ["/etc/default/scaph-host"],
        scripts: {
          postinst: postinst({ enable: ["scaph-host-qemu.service"], start: ["scaph-host-qemu.service"], extra: scaphandreAlternative("/usr/lib/scaph-host/scaphandre").install }),
          prerm: prerm(["scaph-host-qemu.service", "scaph-host-prometheus.service"], scaphandreAlternative("/usr/lib/scaph-host/scaphandre").remove),
          postrm: postrm(["scaph-host-qemu.service", "scaph-host-prometheus.service"], {
            // the daemon's own files; the VMs' trees are teardown's (a tmpfs per VM, its mount unit)
            purge: `  rm -f /var/lib/libvirt/scaphandre/.scaph-state.json /var/lib/libvirt/scaphandre/.scaph-status.json
  rmdir --ignore-fail-on-non-empty /var/lib/libvirt/scaphandre 2>/dev/null || true`,
          }),
        },
      },
      out,
    );
    say(deb);
  }
  if (only.includes("guest-deb")) {
    const { guestProgram } = await import(join(repo, "guest/dist/src/cli.js"));
    const deb = buildDeb(
      {
        name: "scaph-guest",
        version,
        arch: "amd64",
        depends: ["libc6 (>= 2.28)", "libstdc++6", "libgcc-s1"],
        section: "admin",
        summary: "power of this virtual machine, from its host's scaph-host",
        description: `scaph-guest reads the power its host's scaph-host gives this VM (a powercap
tree shared over virtiofs or 9p, or a virtio-serial channel) and exports it,
with its processes' share, to Prometheus, JSON or text, like Scaphandre.
One executable: no Node.js needed.`,
        files: [
          { dest: "/usr/bin/scaph-guest", src: sea, mode: 0o755 },
          { dest: "/usr/lib/scaph-guest/scaphandre", content: SCAPHANDRE_SHIM, mode: 0o755 },
          unit("scaph-guest.service"),
          unit("scaph-guest-channel.service"),
          unit("var-scaphandre.mount"),
          { dest: "/lib/udev/rules.d/60-scaph-guest.rules", src: join(repo, "systemd/60-scaph-guest.rules"), mode: 0o644 },
          { dest: "/etc/default/scaph-guest", src: join(repo, "deploy/packaging/debian/scaph-guest.default"), mode: 0o644 },
          await man(guestProgram(), "scaph-guest", [
            { title: "Environment", text: "SCAPHANDRE_POWERCAP_PATH\n    the tree's path (default /var/scaphandre)" },
            { title: "Files", text: "/etc/default/scaph-guest\n    the services' options" },
            { title: "See also", text: "scaph-host(1), /usr/share/doc/scaph-guest/README.md" },
          ]),
          ...docs("scaph-guest"),
        ],
        conffiles: ["/etc/default/scaph-guest"],
        scripts: {
          postinst: postinst({
            enable: ["scaph-guest.service"],
            start: ["scaph-guest.service"],
            // /usr/bin/scaphandre offered; and a channel port already there starts its receiver now, not at the next boot
            extra: `${scaphandreAlternative("/usr/lib/scaph-guest/scaphandre").install}
  if [ -d /run/udev ] && command -v udevadm >/dev/null; then
    udevadm control --reload || true
    udevadm trigger --subsystem-match=virtio-ports --action=add || true
  fi`,
          }),
          prerm: prerm(["scaph-guest.service", "scaph-guest-channel.service"], scaphandreAlternative("/usr/lib/scaph-guest/scaphandre").remove),
          postrm: postrm(["scaph-guest.service"], {
            remove: `  if [ -d /run/udev ] && command -v udevadm >/dev/null; then udevadm control --reload || true; fi`,
          }),
        },
      },
      out,
    );
    say(deb);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

function copyTo(file, name) {
  const to = join(out, name);
  copyFileSync(file, to);
  return to;
}
