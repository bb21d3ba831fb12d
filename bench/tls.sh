#!/usr/bin/env bash
# TLS cost: handshake + CONNECT rate and QoS 0 throughput over TLS vs plain TCP, same
# broker process (`--auth none --tls-self-signed`), same run.
#
#   bash bench/tls.sh             # DURATION=10 s per throughput run
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
OUT=bench/results/tls-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
cargo build --release -q -p magnetite -p magnetite-loadtest
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MQTT=$(free_port); MQTTS=$(free_port)
target/release/magnetite serve --auth none --tls-self-signed --data-dir "$OUT/data" \
  --mqtt-addr 127.0.0.1:$MQTT --mqtts-addr 127.0.0.1:$MQTTS --wss-addr 127.0.0.1:$(free_port) \
  --ws-addr 127.0.0.1:$(free_port) --http-addr 127.0.0.1:$(free_port) >"$OUT/magnetite.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -f "$OUT/data/ca/ca.crt" ] && nc -z 127.0.0.1 $MQTTS 2>/dev/null && break; sleep 0.1; done
LT=target/release/magnetite-loadtest
TLS=(--host localhost --port $MQTTS --ca "$OUT/data/ca/ca.crt")
TCP=(--host 127.0.0.1 --port $MQTT)
run() { # name transport-args... -- scenario-args...
  local name=$1; shift
  echo "== $name" >&2
  "$LT" "$@" --broker-pid $PID --label "$name" --quiet --json "$OUT/$name.json" >"$OUT/$name.txt" 2>&1
}
run conn-tcp conn "${TCP[@]}" --clients 10000 --concurrency 100
run conn-tls conn "${TLS[@]}" --clients 10000 --concurrency 100
run qos0-tcp p2p "${TCP[@]}" --qos 0 --clients 1 --duration "$DURATION"
run qos0-tls p2p "${TLS[@]}" --qos 0 --clients 1 --duration "$DURATION"
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
d = {n: json.load(open(os.path.join(out, n + ".json"))) for n in ["conn-tcp", "conn-tls", "qos0-tcp", "qos0-tls"]}
print("| scenario | TCP | TLS | TLS/TCP |")
print("|---|---:|---:|---:|")
def row(label, a, b):
    print(f"| {label} | {a:,.0f} | {b:,.0f} | {b / a:.2f}x |")
row("connects/s (handshake + CONNECT + DISCONNECT)", d["conn-tcp"]["connects_per_s"], d["conn-tls"]["connects_per_s"])
row("QoS 0 p2p 64 B recv msg/s", d["qos0-tcp"]["recv_rate"], d["qos0-tls"]["recv_rate"])
for k in ["qos0-tcp", "qos0-tls"]:
    lat = d[k].get("latency_us") or {}
    print(f"| {k} p99 latency us | {lat.get('p99', '-')} | | |")
PY
echo "results in $OUT"
