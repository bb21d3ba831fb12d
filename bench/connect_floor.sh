#!/usr/bin/env bash
# Is "CPU per connect <= 0.5x mosquitto" reachable on this machine? The kernel floor
# (loadtest/examples/connect_floor.rs: one epoll thread, accept, CONNECT, CONNACK,
# DISCONNECT/EOF, close, nothing else) against magnetite (`--auth none`, with its two
# events) and mosquitto 2.0.11, the same generator, rounds alternating; the floor also
# with the socket options a broker could choose (TCP_NODELAY inherited from the
# listener, TCP_DEFER_ACCEPT, who closes first, SO_LINGER 0). Broker utime / stime from
# /proc/<pid>/stat around `magnetite-loadtest conn --clients N --concurrency 200`.
# With SYSCALLS=1, also `strace -c` syscalls per connect of each floor variant.
#
#   cargo build --release --bin magnetite --bin magnetite-loadtest
#   cargo build --release -p magnetite-loadtest --example connect_floor
#   bash bench/connect_floor.sh                # N=10000 ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-200}
LT=${LOADTEST_BIN:-target/release/magnetite-loadtest}
OUT=bench/results/connect-floor-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT" && touch "$OUT/cpu.txt"
# shellcheck source=bench/lib.sh
source bench/lib.sh
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

# The floor's variants: label and flags.
FLOORS=(
  "floor:--nodelay accepted --close after-eof"
  "floor-nodelay-listener:--nodelay listener --close after-eof"
  "floor-defer-accept:--nodelay listener --defer-accept --close after-eof"
  "floor-close-first:--nodelay listener --close first"
  "floor-linger0:--nodelay listener --close first --linger0"
)

# round <label> <kind> [broker args]: start, warm up, N connects, CPU per connect.
round() {
  local label=$1 kind=$2 before after
  shift 2
  start_broker "$label" "$kind" "$@"
  $LT conn --port "$PORT" --clients 500 --concurrency 50 --quiet >/dev/null
  before=$(cpu_ticks "$PID")
  $LT conn --port "$PORT" --clients "$N" --concurrency "$CONCURRENCY" --quiet >>"$OUT/loadtest.txt"
  sleep 1 # magnetite's last event batch and its readers belong to the run
  after=$(cpu_ticks "$PID")
  stop_broker
  echo "$label $before $after" | awk -v n="$N" -v t="$TICK" \
    '{u=($4-$2)/t/n*1e6; s=($5-$3)/t/n*1e6; printf "%s %.1f %.1f\n", $1, u, s}' | tee -a "$OUT/cpu.txt"
}

for _ in $(seq "$ROUNDS"); do
  for f in "${FLOORS[@]}"; do
    # shellcheck disable=SC2086
    round "${f%%:*}" floor ${f#*:}
  done
  round magnetite magnetite
  round mosquitto mosquitto
done

echo "per connect + disconnect (us): label user sys total, mean over $ROUNDS rounds"
awk '{u[$1]+=$2; s[$1]+=$3; k[$1]++} END {for (l in u) printf "%-24s %6.1f %6.1f %6.1f\n", l, u[l]/k[l], s[l]/k[l], (u[l]+s[l])/k[l]}' \
  "$OUT/cpu.txt" | sort
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"

[ "${SYSCALLS:-0}" = 1 ] || exit 0
for f in "${FLOORS[@]}"; do
  # shellcheck disable=SC2086
  start_broker "${f%%:*}" floor ${f#*:}
  $LT conn --port "$PORT" --clients 200 --concurrency 10 --quiet >/dev/null
  strace -c -f -q -o "$OUT/${f%%:*}.strace" -p "$PID" &
  ST=$!
  sleep 1
  $LT conn --port "$PORT" --clients 2000 --concurrency 10 --quiet >/dev/null
  sleep 1
  kill -INT $ST; wait $ST || true
  stop_broker
  echo "== ${f%%:*}: syscalls per connect + disconnect"
  awk '$1 ~ /^[0-9.]+$/ && NF >= 5 {printf "%-16s %7.2f\n", $NF, $4 / 2000}' "$OUT/${f%%:*}.strace" | sort -k2 -nr
done
