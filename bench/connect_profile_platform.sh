#!/usr/bin/env bash
# Instructions per authenticated connect + disconnect (`--auth platform`), cold and warm,
# repeatable under load: provisions N clients through the HTTP API (broker outside
# valgrind), restarts the broker on the same data dir under callgrind, then
#   cold: N connects with a fresh process (every connect misses the authorization
#         cache and reads the store), counters dumped as `cold`;
#   warm: the same N connects again (served from the cache), dumped as `warm`.
# Each connect writes its connect and disconnect events to the outbox.
#
#   cargo build --release --bin magnetite --bin magnetite-loadtest
#   bash bench/connect_profile_platform.sh      # N=2000; MAGNETITE_BIN=<other build> to compare
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
BIN=${MAGNETITE_BIN:-target/release/magnetite}
LT=${LOADTEST_BIN:-target/release/magnetite-loadtest}
OUT=bench/results/connect-profile-platform-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
# shellcheck source=bench/platform_setup.sh
source bench/platform_setup.sh   # starts $BIN (PID), provisions $OUT/credentials.csv
# Let the outbox readers (journal, notifications) copy the provisioning's N client.create
# events before the restart: otherwise the cold window counts that catch-up too.
sleep 3
kill -TERM "$PID"; wait "$PID" || true
valgrind --tool=callgrind --separate-threads=no --callgrind-out-file="$OUT/callgrind.out" \
  "$BIN" serve --mqtt-addr 127.0.0.1:$MQTT --ws-addr 127.0.0.1:$WS \
  --http-addr 127.0.0.1:$HTTP --data-dir "$OUT/data" >>"$OUT/magnetite.log" 2>&1 &
VG=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$HTTP/health" >/dev/null && break; sleep 0.2; done
run() {
  callgrind_control --zero $VG >/dev/null
  $LT conn --port "$MQTT" --clients "$N" --concurrency 10 --quiet \
    --credentials "$OUT/credentials.csv" | tee "$OUT/$1.txt"
  sleep 3 # let the event writer finish the last batch
  callgrind_control --dump="$1" $VG >/dev/null
}
run cold
run warm
kill -TERM $VG; wait $VG || true
for part in 1 2; do
  file="$OUT/callgrind.out.$part"
  total=$(grep '^summary:' "$file" | awk '{print $2}')
  echo "$(grep '^desc: Trigger' "$file" | sed 's/^desc: Trigger: //'): instructions per connect + disconnect: $((total / N)) ($total for $N)"
done
callgrind_annotate --inclusive=yes --threshold=100 "$OUT/callgrind.out.2" | sed -n '/file:function/,$p' | head -80
echo "results in $OUT"
