// The maintainer scripts: what debhelper's dh_installsystemd writes, by hand (no debhelper at build).
// Enabled on first install; an admin's disable is kept across upgrades; stopped before removal;
// `dpkg -r` leaves no enablement symlink behind (debhelper would mask; we purge the state at once).

const each = (units, line) => units.map((u) => line.replaceAll("UNIT", u)).join("\n");

/** postinst: enable `enable` (remembering an admin's choice), reload systemd, (re)start `start`; then `extra`. */
export function postinst({ enable = [], start = [], extra = "" }) {
  return `#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
${each(enable, `  if deb-systemd-helper --quiet was-enabled 'UNIT'; then
    deb-systemd-helper enable 'UNIT' >/dev/null || true
  else
    deb-systemd-helper update-state 'UNIT' >/dev/null || true
  fi`)}
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    if [ -n "$2" ]; then action=restart; else action=start; fi
${each(start, `    deb-systemd-invoke "$action" 'UNIT' >/dev/null || true`)}
  fi
${extra}
fi
exit 0
`;
}

/** prerm: stops `units` when the package goes (not on upgrade: postinst restarts them); then `extra` on remove. */
export function prerm(units, extra = "") {
  return `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
${each(units, `  deb-systemd-invoke stop 'UNIT' >/dev/null || true`)}
fi
if [ "$1" = remove ]; then
${extra || "  :"}
fi
exit 0
`;
}

/**
 * Scaphandre's command, for its unit files and scripts (\`ExecStart=/usr/bin/scaphandre prometheus\`):
 * scaph-host, or scaph-guest given --vm. Each package installs it in its own directory and offers it as
 * the alternative /usr/bin/scaphandre: a real Scaphandre package's /usr/bin/scaphandre (a plain file) is
 * never replaced (update-alternatives leaves it and says so).
 */
export const SCAPHANDRE_SHIM = `#!/bin/sh
# scaphandre: Scaphandre's command, run by scaph (scaph-guest with --vm, scaph-host otherwise)
prog=scaph-host
for a in "$@"; do [ "$a" = --vm ] && prog=scaph-guest; done
if ! command -v "$prog" >/dev/null 2>&1; then
  echo "scaphandre: this runs $prog, which is not installed (scaph-host on a host; scaph-guest, with --vm, in a VM)" >&2
  exit 1
fi
exec "$prog" "$@"
`;

/** The lines that offer (postinst) and withdraw (prerm, on remove) `path` as /usr/bin/scaphandre. */
export const scaphandreAlternative = (path) => ({
  install: `  update-alternatives --install /usr/bin/scaphandre scaphandre '${path}' 10 || true`,
  remove: `  update-alternatives --remove scaphandre '${path}' || true`,
});

/** postrm: forgets `units`' enablement (symlinks and state) on remove and purge; `purge` runs on purge. */
export function postrm(units, { purge = "", remove = "" } = {}) {
  return `#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = purge ]; then
  if [ -x /usr/bin/deb-systemd-helper ]; then
${each(units, `    deb-systemd-helper purge 'UNIT' >/dev/null || true`)}
  fi
  if [ -d /run/systemd/system ]; then systemctl --system daemon-reload >/dev/null || true; fi
${remove}
fi
if [ "$1" = purge ]; then
${purge || "  :"}
fi
exit 0
`;
}
