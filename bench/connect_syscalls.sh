#!/usr/bin/env bash
# Syscalls per anonymous connect + disconnect, magnetite and mosquitto 2.0.11:
# `strace -c -f` attached to the broker during N connects (after 200 warm-up connects).
#
#   bash bench/connect_syscalls.sh            # N=2000; MAGNETITE_BIN=<other build>
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
LT=${LOADTEST_BIN:-target/release/magnetite-loadtest}
OUT=bench/results/connect-syscalls-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
for kind in magnetite mosquitto; do
  start_broker "$kind" "$kind"
  $LT conn --port "$PORT" --clients 200 --concurrency 10 --quiet >/dev/null
  strace -c -f -q -o "$OUT/$kind.strace" -p "$PID" &
  ST=$!
  sleep 1
  $LT conn --port "$PORT" --clients "$N" --concurrency 10 --quiet >"$OUT/$kind.txt"
  sleep 2
  kill -INT $ST; wait $ST || true
  stop_broker
  echo "== $kind: syscalls per connect + disconnect"
  awk -v n="$N" '$1 ~ /^[0-9.]+$/ && NF >= 5 {printf "%-16s %7.2f\n", $NF, $4 / n}' "$OUT/$kind.strace" | sort -k2 -nr
done
echo "results in $OUT"
