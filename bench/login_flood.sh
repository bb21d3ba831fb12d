#!/usr/bin/env bash
# MQTT connects while the HTTP API is flooded with logins (Argon2id each): provisions N
# clients, then runs `magnetite-loadtest conn` warm, alone and during 6 s of 8 threads
# logging the admin in (bench/login_flood.py), twice. BIN= picks the broker binary, so
# two builds can be compared in one run.
#
#   bash bench/login_flood.sh                # N=5000
#   BIN=/tmp/old-magnetite SKIP_BUILD=1 bash bench/login_flood.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/magnetite}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p magnetite -p magnetite-loadtest
N=${N:-5000}
CONCURRENCY=${CONCURRENCY:-200}
OUT=bench/results/login-flood-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
source bench/platform_setup.sh
kill -TERM $PID; wait $PID || true
start   # a fresh process: the authorization cache is empty
LT=target/release/magnetite-loadtest
$LT conn --port $MQTT --clients $N --concurrency $CONCURRENCY --credentials "$OUT/credentials.csv" --broker-pid $PID --label cold --quiet --json "$OUT/cold.json" >/dev/null
for r in 1 2; do
$LT conn --port $MQTT --clients $N --concurrency $CONCURRENCY --credentials "$OUT/credentials.csv" --broker-pid $PID --label warm --quiet --json "$OUT/warm$r.json" >/dev/null
python3 bench/login_flood.py $H $MAGNETITE_ADMIN_EMAIL $MAGNETITE_ADMIN_PASSWORD 6 8 > "$OUT/flood$r.txt" &
FP=$!
sleep 0.5
$LT conn --port $MQTT --clients $N --concurrency $CONCURRENCY --credentials "$OUT/credentials.csv" --broker-pid $PID --label flood --quiet --json "$OUT/flooded$r.json" >/dev/null
wait $FP
done
kill -TERM $PID; wait $PID || true
for f in warm1 flooded1 warm2 flooded2; do python3 -c "import json; d=json.load(open('$OUT/'+'$f'+'.json')); print('$f', round(d['connects_per_s']), (d.get('connect_us') or {}).get('p99'))"; done
cat $OUT/flood1.txt $OUT/flood2.txt
