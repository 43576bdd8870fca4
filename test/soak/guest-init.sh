#!/bin/busybox sh
# /init of the soak's guests: the channel's agent (scaph-guest json, its
# receiver in the same process) reporting every step, a reader of the tree
# as a third-party tool reads it (its own clock, its own period), a burner
# in busy guests, and the guest's own chaos, seeded from the kernel command
# line: its agent killed, its port flooded. Every line goes to the serial
# console, prefixed SOAK; the host stamps them as they come.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "SOAK $*"; }
for m in $(cat /lib/modules/order); do e=$(insmod /lib/modules/$m 2>&1) || say "insmod-failed $m $e"; done
arg() { sed -n "s/.*scaph\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
MODE=$(arg mode); STEP=$(arg step); SEED=$(arg seed); READ_EVERY=$(arg read_every); CHAOS=$(arg chaos)
up() { cut -d' ' -f1 /proc/uptime; }
say boot mode=$MODE up=$(up)
if [ "$MODE" = busy ]; then
  for n in $(seq "$(grep -c ^processor /proc/cpuinfo)"); do ( while :; do :; done ) & done
fi
cd /scaph
# The agent, started again a second after it ends (killed by the chaos below, or failing).
(
  while :; do
    say agent-start up=$(up)
    node guest/bin/scaph-guest.js -vv json -t 0 -s "$STEP" --max-top-consumers 0 --powercap-path /var/scaphandre 2>&1 | sed 's/^/SOAK agent /'
    say agent-end up=$(up)
    while [ -e /tmp/hold-agent ]; do sleep 1; done
    sleep 1
  done
) &
# A reader with a clock and a period of its own: the tree's package + dram, as node_exporter's rapl collector reads it
# (and the package's modification time, the host time of what the tree shows, for the soak's checker).
(
  P=/var/scaphandre/intel-rapl:0; D=
  while :; do
    [ -n "$D" ] || for z in $P:*; do read -r n < $z/name 2>/dev/null && [ "$n" = dram ] && D=$z; done
    p=; d=0; m=
    # The reader's clock is read right before the counters, with the shell's own read (no process started in
    # between): a clock read after a fork or two (stat, cut) is late by what those took, hundreds of ms on a busy
    # TCG guest, and a window between two such readings is off by the difference (a breach of "no spike" the
    # tree did not make). The package's value and its time come from one open file (stdin, which stat
    # inherits): a frame written between two opens would pair one frame's value with another's time.
    read -r u _ < /proc/uptime
    { read -r p; [ -z "$D" ] || read -r d < $D/energy_uj; m=$(stat -L -c %y /proc/self/fd/0 2>/dev/null | tr ' ' _); } 2>/dev/null < $P/energy_uj
    [ -z "$p" ] || say reader up=$u uj=$((p + d)) mtime=$m
    sleep "$READ_EVERY"
  done
) &
# The guest's own chaos: every 30 to 90 s, its agent killed, or its port flooded while the agent is away.
RANDOM=$SEED
agentpids() { for p in /proc/[0-9]*; do tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q 'scaph-guest.js -vv json' && echo "${p#/proc/}"; done; }
port() { for n in /sys/class/virtio-ports/*/name; do [ "$(cat "$n" 2>/dev/null)" = org.scaph.energy.0 ] && echo /dev/$(basename "$(dirname "$n")"); done; }
while [ "$CHAOS" = 1 ]; do
  sleep $((30 + RANDOM % 60))
  if [ $((RANDOM % 2)) = 0 ]; then
    say event agent-kill up=$(up)
    kill -9 $(agentpids) 2>/dev/null
  else
    touch /tmp/hold-agent
    say event flood-start up=$(up)
    kill $(agentpids) 2>/dev/null; sleep 1
    P=$(port); [ -n "$P" ] && timeout 3 cat /dev/zero > "$P"
    say event flood-end up=$(up) port=$P
    rm -f /tmp/hold-agent
  fi
done
while :; do sleep 3600; done
