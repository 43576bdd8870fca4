#!/bin/sh
# Proxmox VE hookscript: a tmpfs for the VM's powercap tree before it starts, as `scaph-host setup` makes
# one under libvirt. Install: copy to /var/lib/vz/snippets/, then
#   qm set VMID --hookscript local:snippets/scaph-hookscript.sh
# and share /var/lib/libvirt/scaphandre/NAME with the VM over virtiofs (Datacenter > Directory Mappings,
# Proxmox VE 8.4 and later; mount tag scaphandre). scaph-host qemu --no-libvirt writes the tree there.
# It runs as root before each start and touches nothing but that directory; the tmpfs stays across
# restarts (the counters continue), `umount` it to remove it.
set -eu
vmid="$1"
phase="$2"
[ "$phase" = pre-start ] || exit 0
name="$(qm config "$vmid" | sed -n 's/^name: //p')"
case "$name" in
  '' | . | .. | .* | */*) echo "scaph: VM $vmid has no name usable as a directory: no tree" >&2; exit 0 ;;
esac
dir="/var/lib/libvirt/scaphandre/$name"
mkdir -p "$dir"
if ! mountpoint -q "$dir"; then
  mount -t tmpfs -o size=5m,mode=0755 scaph "$dir"
fi
exit 0
