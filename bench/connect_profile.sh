#!/usr/bin/env bash
# Instructions per connect + disconnect, repeatable under load: runs the release broker
# (`--auth none`, embedded event log) under callgrind, zeroes the counters after a
# warm-up, dumps them after N anonymous connects and prints the top inclusive costs.
#
#   CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p magnetite -p magnetite-loadtest
#   bash bench/connect_profile.sh            # N=2000; MAGNETITE_BIN=<other build> to compare
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
BIN=${MAGNETITE_BIN:-target/release/magnetite}
LT=${LOADTEST_BIN:-target/release/magnetite-loadtest}
OUT=bench/results/connect-profile-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT/data"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
valgrind --tool=callgrind --separate-threads=no --callgrind-out-file="$OUT/callgrind.out" \
  "$BIN" serve --auth none --mqtt-addr 127.0.0.1:$PORT --ws-addr 127.0.0.1:$(free_port) \
  --http-addr 127.0.0.1:$(free_port) --data-dir "$OUT/data" >"$OUT/broker.log" 2>&1 &
VG=$!
for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.2; done
$LT conn --port $PORT --clients 200 --concurrency 10 --quiet >/dev/null
callgrind_control --zero $VG >/dev/null
$LT conn --port $PORT --clients "$N" --concurrency 10 --quiet | tee "$OUT/loadtest.txt"
sleep 3 # let the event writer finish the last batch
callgrind_control --dump=measured $VG >/dev/null
kill -TERM $VG; wait $VG || true
total=$(grep '^summary:' "$OUT/callgrind.out.1" | awk '{print $2}')
echo "instructions per connect + disconnect: $((total / N)) ($total for $N)"
callgrind_annotate --inclusive=yes --threshold=100 "$OUT/callgrind.out.1" | sed -n '/file:function/,$p' | head -80
