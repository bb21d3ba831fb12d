#!/usr/bin/env bash
# Authenticated CONNECT rate under `--auth platform`: provisions N clients through the
# HTTP API, then runs `magnetite-loadtest conn` with their ids and secrets twice:
# cold (a freshly started broker: every connect misses the authorization cache and
# reads the store) and warm (the same clients again, served from memory).
#
#   bash bench/platform_connect.sh               # N=10000
#   N=20000 CONCURRENCY=200 bash bench/platform_connect.sh
#   NO_BUILD=1 MAGNETITE_BIN=/path/to/other/magnetite bash bench/platform_connect.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
CONCURRENCY=${CONCURRENCY:-200}
# shellcheck source=bench/lib.sh
source bench/lib.sh
prepare_run "bench/results/platform-$(date -u +%Y%m%dT%H%M%SZ)"
BIN=${MAGNETITE_BIN:-target/release/magnetite}
source bench/platform_setup.sh
kill -TERM $PID; wait $PID || true
start   # a fresh process: the authorization cache is empty
$LT conn --port $MQTT --clients $N --concurrency $CONCURRENCY --credentials "$OUT/credentials.csv" \
  --broker-pid $PID --label cold --json "$OUT/cold.json" | tee "$OUT/cold.txt"
$LT conn --port $MQTT --clients $N --concurrency $CONCURRENCY --credentials "$OUT/credentials.csv" \
  --broker-pid $PID --label warm --json "$OUT/warm.json" | tee "$OUT/warm.txt"
kill -TERM $PID; wait $PID || true
echo "results in $OUT"
