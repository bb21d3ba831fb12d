#!/usr/bin/env bash
# HTTP publishing and message storage, on one platform broker per run (--auth platform):
#  1. HTTP publishes/s into an MQTT subscriber: `ab` (apache2-utils) POSTs a SenML body to
#     /m/<domain>/c/<channel>/bench with `Authorization: Client <secret>`, keep-alive,
#     CONCURRENCY at once; mosquitto_sub counts what reaches MQTT.
#  2. MQTT QoS 0 p2p throughput (magnetite-loadtest) with the message writer storing every
#     message (--messages-store all, SQLite in the data dir) vs off (--messages-store off).
#
#   bash bench/http_messages.sh                 # reports in bench/results/http-<timestamp>/
#   DURATION=5 REQUESTS=20000 bash bench/http_messages.sh
#   SKIP_BUILD=1 ...                            # use the release binaries already built
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
REQUESTS=${REQUESTS:-50000}
CONCURRENCY=${CONCURRENCY:-16}
# shellcheck source=bench/lib.sh
source bench/lib.sh
command -v ab >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq apache2-utils >/dev/null; }
if [ -n "${SKIP_BUILD:-}" ]; then
  OUT=bench/results/http-$(date -u +%Y%m%dT%H%M%SZ); mkdir -p "$OUT"; LT=target/release/magnetite-loadtest
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
else
  prepare_run "bench/results/http-$(date -u +%Y%m%dT%H%M%SZ)"
fi
BIN=target/release/magnetite
export MAGNETITE_ADMIN_EMAIL=admin@example.com MAGNETITE_ADMIN_PASSWORD=bench-admin-pw

# start_platform <label> <serve flags...>: fresh data dir; sets PID, PORT, H, D, CH, ID, SECRET.
start_platform() {
  local label=$1; shift
  PORT=$(free_port); local http; http=$(free_port)
  rm -rf "$OUT/data" && mkdir -p "$OUT/data"
  "$BIN" serve --mqtt-addr 127.0.0.1:$PORT --ws-addr 127.0.0.1:$(free_port) \
    --http-addr 127.0.0.1:$http --data-dir "$OUT/data" "$@" >"$OUT/$label.log" 2>&1 &
  PID=$!
  H=http://127.0.0.1:$http
  for _ in $(seq 100); do curl -sf "$H/health" >/dev/null && break; sleep 0.1; done
  local token json
  token=$(curl -sf -X POST $H/users/tokens/issue -H 'Content-Type: application/json' \
    -d "{\"username\":\"$MAGNETITE_ADMIN_EMAIL\",\"password\":\"$MAGNETITE_ADMIN_PASSWORD\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
  local auth=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')
  D=$(curl -sf -X POST $H/domains "${auth[@]}" -d '{"name":"bench","route":"bench"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
  CH=$(curl -sf -X POST $H/$D/channels "${auth[@]}" -d '{"name":"telemetry"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
  json=$(curl -sf -X POST $H/$D/clients "${auth[@]}" -d '{"name":"bench-device"}')
  ID=$(echo "$json" | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
  SECRET=$(echo "$json" | python3 -c 'import sys,json; print(json.load(sys.stdin)["credentials"]["secret"])')
  curl -sf -X POST $H/$D/channels/connect "${auth[@]}" \
    -d "{\"channel_ids\":[\"$CH\"],\"client_ids\":[\"$ID\"],\"types\":[\"publish\",\"subscribe\"]}" >/dev/null
}

stored_rows() { curl -s "$H/metrics" | awk '/^magnetite_messages_stored_total/ {print $2}'; }

# 1. HTTP -> MQTT, with the writer storing every message.
start_platform http-publish --messages-store all
printf '[{"bn":"dev/","n":"temp","u":"Cel","v":21.5}]' >"$OUT/senml.json"
mosquitto_sub -h 127.0.0.1 -p "$PORT" -u "$ID" -P "$SECRET" -i bench-sub -t "m/$D/c/$CH/#" >"$OUT/received.txt" &
SUB=$!
sleep 1
ab -q -k -n "$REQUESTS" -c "$CONCURRENCY" -p "$OUT/senml.json" -T application/senml+json \
  -H "Authorization: Client $SECRET" "$H/m/$D/c/$CH/bench" >"$OUT/ab.txt" 2>&1
sleep 2
kill $SUB 2>/dev/null || true; wait $SUB 2>/dev/null || true
non2xx=$(awk '/Non-2xx/ {print $3}' "$OUT/ab.txt")
echo "HTTP publishes: $(awk '/Requests per second/ {print $4}' "$OUT/ab.txt")/s, non-2xx: ${non2xx:-0}," \
  "received by the MQTT subscriber: $(wc -l <"$OUT/received.txt") of $REQUESTS, rows stored: $(stored_rows)" | tee "$OUT/http.txt"
stop_broker

# 2. MQTT QoS 0 with the writer on (every message stored) and off.
for mode in all off; do
  start_platform "mqtt-$mode" --messages-store $mode
  run_load "qos0-p2p-1" "store-$mode" p2p --qos 0 --clients 1 \
    --username "$ID" --password "$SECRET" --topic "m/$D/c/$CH/p2p/%i"
  echo "store-$mode: rows stored $(stored_rows), dropped $(curl -s "$H/metrics" | awk '/^magnetite_messages_dropped_total/ {print $2}')" | tee -a "$OUT/writer.txt"
  stop_broker
done
python3 - "$OUT" <<'PY' | tee "$OUT/mqtt.txt"
import json, os, sys
print("| writer | recv msg/s | sent msg/s | lost | broker CPU us/msg | p99 latency us |")
print("|---|---:|---:|---:|---:|---:|")
for mode in ("all", "off"):
    r = json.load(open(os.path.join(sys.argv[1], f"qos0-p2p-1.store-{mode}.json")))
    p99 = (r.get("latency_us") or {}).get("p99")
    print(f"| {mode} | {r['recv_rate']:,.0f} | {r['send_rate']:,.0f} | {r['lost']:,} | {r.get('broker_cpu_us_per_msg') or 0:.2f} | {p99} |")
PY
