#!/bin/busybox sh
# /init of the lab guests: mount the share over the transport given on the
# kernel command line, run scaph-guest, print readings to the serial console.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "SCAPH-LAB $*"; }
for m in $(cat /lib/modules/order); do e=$(insmod /lib/modules/$m 2>&1) || say "insmod-failed $m $e"; done
arg() { sed -n "s/.*scaph\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
T=$(arg transport); MODE=$(arg mode); SECS=$(arg seconds); STEP=$(arg step)
say boot transport=$T mode=$MODE uptime=$(cut -d' ' -f1 /proc/uptime)
if [ "$T" = virtiofs ]; then
  mount -t virtiofs scaphandre /var/scaphandre || say mount-failed
else
  mount -t 9p -o trans=virtio,version=9p2000.L,ro scaphandre /var/scaphandre || say mount-failed
fi
grep scaphandre /proc/mounts | sed 's/^/SCAPH-LAB mounted /'
if echo x > /var/scaphandre/probe 2>/dev/null; then say write-test ok; rm -f /var/scaphandre/probe; else say write-test failed; fi
# The burner starts once scaph-guest has written its first report (node starts
# slowly under TCG), then keeps the vCPU, so its qemu process, always busy.
if [ "$MODE" = busy ]; then
  for n in $(seq "$(grep -c ^processor /proc/cpuinfo)"); do
    ( while [ ! -e /tmp/reports.json ]; do sleep 1; done; [ "$n" = 1 ] && say burner-started now=$(date +%s); while :; do :; done ) &
  done
fi
(
  # Every step until scaph-guest is done: the age of the tree and its counters (shell builtins, few forks).
  while [ ! -e /tmp/guest-done ]; do
    now=$(date +%s); m=$(stat -c %Y /var/scaphandre/intel-rapl:0/energy_uj 2>/dev/null || echo 0)
    uj=0
    for z in /var/scaphandre/intel-rapl:0*; do
      read -r n < $z/name; read -r e < $z/energy_uj
      case "$n" in package-0|dram) uj=$((uj + e)) ;; esac
    done
    say age now=$now age=$((now - m)) uj=$uj
    sleep $STEP
  done
) &
cd /scaph
say start now=$(date +%s)
node guest/bin/scaph-guest.js json -t "$SECS" -s "$STEP" --max-top-consumers 2 --powercap-path /var/scaphandre -f /tmp/reports.json 2>&1 | sed 's/^/SCAPH-LAB guest-log /'
touch /tmp/guest-done
say end now=$(date +%s)
sleep $((STEP + 1))
node -e 'for (const r of JSON.parse(require("fs").readFileSync("/tmp/reports.json","utf8"))) console.log("SCAPH-LAB report ts=" + r.host.timestamp + " uw=" + r.host.consumption)'
say done
sync
poweroff -f
