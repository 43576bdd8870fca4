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

/** prerm: stops `units` when the package goes (not on upgrade: postinst restarts them). */
export function prerm(units) {
  return `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
${each(units, `  deb-systemd-invoke stop 'UNIT' >/dev/null || true`)}
fi
exit 0
`;
}

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
