#!/usr/bin/env bash
# Connect/disconnect rate with the event sink up and with it down (Redis Streams), same
# broker process: a down sink must only delay events, never slow MQTT. Then the sink
# comes back and the script waits until nothing is pending.
#
#   bash bench/sink_outage.sh        # N=20000 connects per phase
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20000}
OUT=bench/results/sink-outage-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
cargo build --release -q -p magnetite -p magnetite-loadtest
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(free_port); MQTT=$(free_port); HTTP=$(free_port)
redis-server --port $RP --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
RPID=$!
target/release/magnetite serve --auth none --event-store redis://127.0.0.1:$RP --data-dir "$OUT/data" \
  --mqtt-addr 127.0.0.1:$MQTT --http-addr 127.0.0.1:$HTTP --ws-addr 127.0.0.1:$(free_port) >"$OUT/magnetite.log" 2>&1 &
PID=$!
trap 'kill $PID $RPID 2>/dev/null || true' EXIT
sleep 1
LT=target/release/magnetite-loadtest
pending() { curl -s http://127.0.0.1:$HTTP/metrics | awk '/^magnetite_events_pending/ {s+=$2} END {print s+0}'; }
$LT conn --port $MQTT --clients $N --concurrency 200 --broker-pid $PID --label sink-up --quiet --json "$OUT/up.json" >/dev/null
kill $RPID; wait $RPID 2>/dev/null || true
$LT conn --port $MQTT --clients $N --concurrency 200 --broker-pid $PID --label sink-down --quiet --json "$OUT/down.json" >/dev/null
echo "pending while down: $(pending)"
redis-server --port $RP --bind 127.0.0.1 --save '' --appendonly no >>"$OUT/redis.log" 2>&1 &
RPID=$!
t0=$(date +%s)
while [ "$(pending)" != "0" ]; do sleep 0.5; done
echo "drained in $(( $(date +%s) - t0 )) s; XLEN magistrala.mqtt = $(redis-cli -p $RP XLEN magistrala.mqtt)"
python3 - "$OUT" <<'PY'
import json, sys
up, down = (json.load(open(f"{sys.argv[1]}/{n}.json")) for n in ("up", "down"))
print("| sink | connects/s | broker CPU per connect |")
print("|---|---:|---:|")
for label, d in (("up", up), ("down", down)):
    print(f"| {label} | {d['connects_per_s']:,.0f} | {d['broker_cpu_s'] * 1e6 / d['clients']:.0f} us |")
PY
