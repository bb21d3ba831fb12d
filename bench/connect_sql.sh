#!/usr/bin/env bash
# Which SQL statements a platform connect storm runs, cold and warm: the broker logs
# every statement (`RUST_LOG=sqlx::query=debug`); counted per statement text.
#
#   bash bench/connect_sql.sh                  # N=1000; MAGNETITE_BIN=<other build>
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
BIN=${MAGNETITE_BIN:-target/release/magnetite}
LT=${LOADTEST_BIN:-target/release/magnetite-loadtest}
OUT=bench/results/connect-sql-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
# shellcheck source=bench/platform_setup.sh
source bench/platform_setup.sh
sleep 3 # the readers copy the provisioning's events before the restart
kill -TERM "$PID"; wait "$PID" || true
RUST_LOG=info,sqlx::query=debug start
for phase in cold warm; do
  echo "--- $phase" >>"$OUT/magnetite.log"
  $LT conn --port "$MQTT" --clients "$N" --concurrency 10 --quiet --credentials "$OUT/credentials.csv"
  sleep 3
done
echo "--- end" >>"$OUT/magnetite.log"
kill -TERM "$PID"; wait "$PID" || true
for phase in cold warm; do
  echo "== $phase: statements during $N connects (count, first 120 characters)"
  sed 's/\x1b\[[0-9;]*m//g' "$OUT/magnetite.log" | sed -n "/^--- $phase/,/^--- /p" | grep 'sqlx::query' \
    | sed -E 's/.*db\.statement="(.{0,120}).*/\1/; s/\\n/ /g; s/ +/ /g' | sort | uniq -c | sort -rn | head -15
done
echo "results in $OUT"
