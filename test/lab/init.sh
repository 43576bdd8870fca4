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
say boot transport=$T mode=$MODE uptime=$(cut -d' ' -f1 /proc/uptime) clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)
if [ "$T" = virtiofs ]; then
  mount -t virtiofs scaphandre /var/scaphandre || say mount-failed
elif [ "$T" = 9p ]; then
  mount -t 9p -o trans=virtio,version=9p2000.L,ro scaphandre /var/scaphandre || say mount-failed
fi
if [ "$T" != channel ]; then
  grep scaphandre /proc/mounts | sed 's/^/SCAPH-LAB mounted /'
  if echo x > /var/scaphandre/probe 2>/dev/null; then say write-test ok; rm -f /var/scaphandre/probe; else say write-test failed; fi
fi
# The burner starts once scaph-guest has written its first report (node starts
# slowly under TCG), then keeps the vCPU, so its qemu process, always busy.
if [ "$MODE" = busy ]; then
  for n in $(seq "$(grep -c ^processor /proc/cpuinfo)"); do
    ( while ! ls /tmp/reports*.json >/dev/null 2>&1; do sleep 1; done; [ "$n" = 1 ] && say burner-started now=$(date +%s); while :; do :; done ) &
  done
fi
(
  # Every step until scaph-guest is done: the tree's counters, read between two
  # readings of the guest's clock (µs, from adjtimex), and the guest's CPU ticks.
  clk() { set -- $(adjtimex); while [ $# -gt 1 ]; do case $1 in time.tv_sec:) S=$2 ;; time.tv_usec:) U=$2 ;; esac; shift; done; }
  # The host writes dram, then the package: reading dram, package, dram again
  # and retrying while dram moved gives a pair the host wrote together.
  P=/var/scaphandre/intel-rapl:0; D=
  while [ ! -e /tmp/guest-done ]; do
    [ -n "$D" ] || for z in $P:*; do read -r n < $z/name && [ "$n" = dram ] && D=$z; done
    d1=; d2=x; p=; k=0
    while [ "$d1" != "$d2" ] && [ $k -lt 5 ]; do
      k=$((k + 1)); d1=0; d2=0; p=
      clk; s1=$S; u1=$U
      [ -z "$D" ] || read -r d1 < $D/energy_uj; read -r p < $P/energy_uj; [ -z "$D" ] || read -r d2 < $D/energy_uj
      clk
    done
    read -r _ cu cn cs ci _ < /proc/stat
    if [ -n "$p" ] && [ "$d1" = "$d2" ]; then say probe s1=$s1 u1=$u1 s2=$S u2=$U uj=$((p + d1)) busy=$((cu + cn + cs)) idle=$ci; else say probe-missing; fi
    sleep $STEP
  done
) &
cd /scaph
say start now=$(date +%s)
if [ "$T" = channel ]; then
  # The channel: scaph-guest reads the port (hot-plugged later), keeps /var/scaphandre and reports. At
  # scaph.restart_at (guest seconds) the agent is stopped, the port flooded for 5 s by a hostile process (the
  # port opens once: the agent must be gone), and the agent started again three steps after it stopped.
  agent() { node guest/bin/scaph-guest.js -vv json -t "$1" -s "$STEP" --max-top-consumers 2 --powercap-path /var/scaphandre --substeps 1 -f "$2" 2>&1 | sed 's/^/SCAPH-LAB guest-log /'; }
  # (Debian's static busybox has no pkill: the agent is found by its command line.)
  killagent() { for p in /proc/[0-9]*; do tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q 'scaph-guest.js -vv json' && kill "${p#/proc/}"; done; }
  RESTART=$(arg restart_at)
  if [ -z "$RESTART" ]; then
    # No restart (the migration lab): the agent runs for the whole time.
    agent "$SECS" /tmp/reports1.json
  else
  agent 0 /tmp/reports1.json &
  sleep "$RESTART"; killagent; STOPPED=$(date +%s); say agent-stopped now=$STOPPED
  P=; for n in /sys/class/virtio-ports/*/name; do [ "$(cat "$n")" = org.scaph.energy.0 ] && P=/dev/$(basename "$(dirname "$n")"); done
  sleep 1; say flood-start now=$(date +%s) port=$P; timeout 5 cat /dev/zero > "$P"; say flood-end now=$(date +%s)
  sleep $((STOPPED + 3 * STEP - $(date +%s)))
  say agent-restarted now=$(date +%s)
  agent $((SECS - RESTART - 3 * STEP)) /tmp/reports2.json
  fi
else
  node guest/bin/scaph-guest.js json -t "$SECS" -s "$STEP" --max-top-consumers 2 --powercap-path /var/scaphandre -f /tmp/reports.json 2>&1 | sed 's/^/SCAPH-LAB guest-log /'
fi
touch /tmp/guest-done
say end now=$(date +%s)
sleep $((STEP + 1))
node -e 'for (const f of require("fs").readdirSync("/tmp").filter((f) => /^reports\d*\.json$/.test(f)).sort()) for (const r of JSON.parse(require("fs").readFileSync("/tmp/" + f, "utf8"))) console.log("SCAPH-LAB report ts=" + r.host.timestamp + " uw=" + r.host.consumption + " file=" + f)'
say done
sync
poweroff -f
