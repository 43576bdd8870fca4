#!/bin/busybox sh
# /init of the nested lab guest: a guest that is a hypervisor too. scaph-guest
# keeps /var/scaphandre from its host's channel; a process shaped like a qemu
# VM burns CPU; scaph-host qemu, with no RAPL and no libvirt here, takes the
# guest's tree as its sensor and gives that VM its share. The tree is frozen
# (its agent stopped) when the daemon starts and when it ends, so that the
# energy the daemon split is exactly what the tree gained in between.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "SCAPH-NESTED $*"; }
for m in $(cat /lib/modules/order); do e=$(insmod /lib/modules/$m 2>&1) || say "insmod-failed $m $e"; done
arg() { sed -n "s/.*scaph\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
STEP=$(arg step); SECS=$(arg seconds)
T=/var/scaphandre
say boot uptime=$(cut -d' ' -f1 /proc/uptime)
# A powercap tree's energy as every reader adds it: package-0 and dram, µJ.
total() {
  p=$(cat "$1/intel-rapl:0/energy_uj"); d=0
  for z in "$1"/intel-rapl:0:*; do [ "$(cat "$z/name")" = dram ] && d=$(cat "$z/energy_uj"); done
  echo $((p + d))
}
# Waits until a tree stands still for two steps (its writer stopped), and prints its energy.
still() {
  a=$(total "$1"); sleep $((STEP * 2)); b=$(total "$1")
  while [ "$a" != "$b" ]; do a=$b; sleep $((STEP * 2)); b=$(total "$1"); done
  echo "$b"
}
cd /scaph
agent() { node guest/bin/scaph-guest.js -v channel --path $T >> /tmp/agent.log 2>&1 & AGENT=$!; }
agent
while [ ! -e $T/intel-rapl:0/energy_uj ]; do sleep 1; done
say tree-up
# The nested VM: a busybox under qemu's executable name, run as its sh (busybox picks its applet by argv[0]),
# with libvirt's -name and -uuid on its command line, burning CPU.
mkdir -p /opt/qemu/bin
cp /bin/busybox /opt/qemu/bin/qemu-system-x86_64
ln -s qemu-system-x86_64 /opt/qemu/bin/sh
/opt/qemu/bin/sh -c 'while :; do :; done' -name guest=nested-1,debug-threads=on -uuid 6d2c1f0e-5b1a-4c3e-9f00-000000000001 &
VM=$!
# Frozen: the daemon's first reading (its baseline) is this.
kill $AGENT; wait $AGENT
V0=$(still $T)
say frozen uj=$V0
node host/bin/scaph-host.js -vv qemu --no-libvirt --base-dir /tmp/vms -s "$STEP" --substeps 1 > /tmp/daemon.log 2>&1 &
DAEMON=$!
# (a daemon that cannot start says why, and the run ends)
died() { sed 's/^/SCAPH-NESTED daemon /' /tmp/daemon.log; say daemon-died; say done; sync; poweroff -f; }
n=0
# (its steps are skipped, and say so, while the tree stands still)
while ! grep -qE "measure:|step skipped" /tmp/daemon.log; do
  kill -0 $DAEMON 2>/dev/null || died
  n=$((n + 1)); [ $((n % 10)) = 0 ] && say waiting $n s: $(tail -c 300 /tmp/daemon.log | tr '\n' ' ')
  sleep 1
done
say daemon-up
# The tree moves again (the agent continues from its state), for SECS seconds.
agent
sleep "$SECS"
kill $AGENT; wait $AGENT
V1=$(still $T)
say final uj=$V1
# The daemon's last steps read the frozen tree; then it stops (its trees are whole).
sleep $((STEP * 3))
kill $DAEMON; wait $DAEMON
say daemon-exit rc=$?
kill $VM
say vm-tree uj=$(total /tmp/vms/nested-1)
grep -E "measure:|WARN|ERROR|powercap|sensor" /tmp/daemon.log | sed 's/^/SCAPH-NESTED daemon /'
grep -E "WARN|ERROR" /tmp/agent.log | sed 's/^/SCAPH-NESTED agent /'
say done
sync
poweroff -f
