#!/usr/bin/env bash
# Event consumers: (a) how many events/s one SSE consumer stream delivers (and
# acknowledges) while MQTT connect/disconnect events are produced as fast as
# `magnetite-loadtest conn` can (N connects = 2N events), and (b) the end-to-end latency
# from an HTTP change (client rename) to its delivery on the stream, over CHANGES
# sequential changes. Starts the release binary with a platform store of N clients
# (bench/platform_setup.sh); the client is bench/consumers.py (standard library only).
#
#   bash bench/consumers.sh                       # N=10000, CHANGES=500
#   N=20000 CONCURRENCY=200 CHANGES=1000 bash bench/consumers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
CONCURRENCY=${CONCURRENCY:-200}
CHANGES=${CHANGES:-500}
# shellcheck source=bench/lib.sh
source bench/lib.sh
prepare_run "bench/results/consumers-$(date -u +%Y%m%dT%H%M%SZ)"
BIN=target/release/magnetite
# Keep-alives far apart: the stream client treats 60 s without a byte as the end.
SERVE_FLAGS="--consumer-keepalive 600s"
source bench/platform_setup.sh
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
new_consumer() { # target id -> consumer id (from new events on)
  curl -sf -X POST $H/consumers -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"target\":\"$1\",\"id\":\"$2\",\"include_subresources\":true,\"start\":\"new\"}" | json '["id"]'
}

echo "== (a) one SSE stream while $N connects/disconnects ($((2 * N)) events) are produced" >&2
C=$(new_consumer domain "$DOMAIN")
coproc STREAM { python3 bench/consumers.py stream --base $H --token "$TOKEN" --consumer "$C" \
  --expect $((2 * N)) --idle 60; }
read -r ready <&"${STREAM[0]}"; [ "$ready" = ready ] || { echo "stream did not open" >&2; exit 1; }
$LT conn --port $MQTT --clients $N --concurrency $CONCURRENCY --credentials "$OUT/credentials.csv" \
  --label produce --json "$OUT/produce.json" >"$OUT/produce.txt" 2>&1
read -r stream_result <&"${STREAM[0]}"
echo "$stream_result" >"$OUT/stream.json"
echo "producer (magnetite-loadtest conn):"; grep -iE "connect|rate|/s" "$OUT/produce.txt" | head -5
echo "stream: $stream_result"

echo "== (b) latency of $CHANGES sequential client renames to their delivery on a stream" >&2
CLIENT=$(head -1 "$OUT/credentials.csv" | cut -d, -f1)
C2=$(new_consumer client "$CLIENT")
latency=$(python3 bench/consumers.py latency --base $H --token "$TOKEN" --consumer "$C2" \
  --domain "$DOMAIN" --client "$CLIENT" --changes $CHANGES)
echo "$latency" >"$OUT/latency.json"
echo "latency: $latency"
echo "results in $OUT"
