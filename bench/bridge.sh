#!/usr/bin/env bash
# Gateway bridge (`--bridge`): what queueing costs the edge per QoS 1 publish, and how
# fast a backlog drains to a mosquitto upstream once it comes back. CPU seconds of the
# edge process (utime + stime from /proc, independent of other load on the machine)
# per message, and wall-clock drain rate (load dependent: the load average is printed).
#
#   N=100000 bash bench/bridge.sh          # needs target/release/{magnetite,magnetite-loadtest}, mosquitto, mosquitto_pub
#
# Phases, one run: (1) the edge without a bridge takes N QoS 1 messages; (2) the same
# edge binary with a bridge whose upstream is down takes N (each appended to the queue
# before its PUBACK); (3) the upstream starts, the backlog of N drains; (4) with the link
# up, magnetite-loadtest p2p publishes at the edge and subscribes at the upstream (each
# message crosses the bridge): forwarding throughput (QoS 0 and 1, as fast as possible)
# and pub->sub latency at a fixed rate, against the same runs straight to the upstream.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
BIN=${MAGNETITE_BIN:-target/release/magnetite}
LOADTEST=${LOADTEST_BIN:-target/release/magnetite-loadtest}
SECONDS_EACH=${SECONDS_EACH:-8}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
metric() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk -v s="$1{bridge=\"up\"}" '$1 == s {print $2}'; }

start_edge() { # $@: extra flags
  MQTT=$(port); HTTP=$(port)
  "$BIN" serve --auth none --data-dir "$work/edge-$MQTT" --mqtt-addr "127.0.0.1:$MQTT" \
    --ws-addr "127.0.0.1:$(port)" --http-addr "127.0.0.1:$HTTP" "$@" >"$work/edge-$MQTT.log" 2>&1 &
  EDGE=$!
  until curl -s "http://127.0.0.1:$HTTP/health" >/dev/null; do sleep 0.1; done
}

# N QoS 1 messages of 64 bytes on 4 topics (mosquitto_pub -l: one message per line).
publish() {
  local pids=()
  for t in 0 1 2 3; do
    seq "$((N / 4))" | awk '{printf "%064d\n", $1}' |
      mosquitto_pub -h 127.0.0.1 -p "$MQTT" -q 1 -t "site/t$t" -l &
    pids+=($!)
  done
  wait "${pids[@]}"
}

cpu_per_message() { # $1: ticks before, $2: ticks after -> microseconds per message
  awk -v a="$1" -v b="$2" -v hz="$hz" -v n="$N" 'BEGIN {printf "%.2f", (b - a) / hz * 1e6 / n}'
}

echo "date: $(date -u +%FT%TZ), N=$N, load: $(cut -d' ' -f1-3 /proc/loadavg)"

start_edge
before=$(ticks "$EDGE"); publish; after=$(ticks "$EDGE")
plain=$(cpu_per_message "$before" "$after")
kill "$EDGE"; wait "$EDGE" 2>/dev/null || true

UPPORT=$(port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\n' "$UPPORT" >"$work/mosquitto.conf"
start_edge --bridge "name=up,url=mqtt://127.0.0.1:$UPPORT,client-id=bench-edge,out=site/# -> cloud/site/# qos 1,out=lt/# -> lt/# qos 1"
before=$(ticks "$EDGE"); publish; after=$(ticks "$EDGE")
queued=$(cpu_per_message "$before" "$after")
backlog=$(metric magnetite_bridge_backlog_messages)

mosquitto -c "$work/mosquitto.conf" >/dev/null 2>&1 &
UP=$!
# Timed from the reconnection (the wait before it is the backoff, not the drain).
until [ "$(metric magnetite_bridge_connected)" = "1" ]; do sleep 0.02; done
before=$(ticks "$EDGE"); started=$(date +%s.%N)
until [ "$(metric magnetite_bridge_backlog_messages)" = "0" ]; do sleep 0.05; done
ended=$(date +%s.%N); after=$(ticks "$EDGE")
drain_cpu=$(cpu_per_message "$before" "$after")
seconds=$(awk -v a="$started" -v b="$ended" 'BEGIN {printf "%.2f", b - a}')
rate=$(awk -v s="$seconds" -v n="$N" 'BEGIN {printf "%.0f", n / s}')

# (4) Through the bridge vs straight to the upstream: p2p pairs, publishers at $1, subscribers at the upstream.
p2p() { # $1: publishers' port, $2: label, $@: loadtest flags
  local pub=$1 label=$2; shift 2
  "$LOADTEST" p2p --port "$pub" --sub-port "$UPPORT" --mqtt-version 3 --payload 64 --quiet \
    --json "$work/$label.json" --label "$label" "$@" >/dev/null
  python3 - "$work/$label.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r["latency_us"]
print(f'{r["recv_rate"]:.0f} {lat["p50"]} {lat["p99"]} {lat["p999"]} {r["lost"]} {max(r["received"], 1)}')
PY
}
row() { # $1: label of the measure, $2: through, $3: direct
  echo "| $1 | $2 | $3 |"
}
link_up_table() { # $1: the upstream's name; the edge ($EDGE, $MQTT) bridges to $UPPORT
  local through_q0 direct_q0 through_q1 direct_q1 through_lat direct_lat before after
  through_q0=$(p2p "$MQTT" bridge-q0 --qos 0 --duration "$SECONDS_EACH")
  direct_q0=$(p2p "$UPPORT" direct-q0 --qos 0 --duration "$SECONDS_EACH")
  before=$(ticks "$EDGE")
  through_q1=$(p2p "$MQTT" bridge-q1 --qos 1 --duration "$SECONDS_EACH")
  after=$(ticks "$EDGE")
  direct_q1=$(p2p "$UPPORT" direct-q1 --qos 1 --duration "$SECONDS_EACH")
  through_lat=$(p2p "$MQTT" bridge-lat --qos 1 --rate 1000 --duration "$SECONDS_EACH")
  direct_lat=$(p2p "$UPPORT" direct-lat --qos 1 --rate 1000 --duration "$SECONDS_EACH")
  echo
  echo "| link up to $1: p2p, 1 pair, 64 B, MQTT 3.1.1 | through the bridge (edge -> $1) | straight to $1 |"
  echo "|---|---|---|"
  row "QoS 0 received msg/s, as fast as possible" "$(echo "$through_q0" | cut -d' ' -f1)" "$(echo "$direct_q0" | cut -d' ' -f1)"
  row "QoS 1 received msg/s, as fast as possible" "$(echo "$through_q1" | cut -d' ' -f1)" "$(echo "$direct_q1" | cut -d' ' -f1)"
  row "QoS 1 at 1,000 msg/s: latency p50 / p99 / p99.9 (µs)" "$(echo "$through_lat" | cut -d' ' -f2-4 | sed 's# # / #g')" "$(echo "$direct_lat" | cut -d' ' -f2-4 | sed 's# # / #g')"
  row "lost: QoS 0 / QoS 1 / QoS 1 at 1,000 msg/s" "$(echo "$through_q0" | cut -d' ' -f5) / $(echo "$through_q1" | cut -d' ' -f5) / $(echo "$through_lat" | cut -d' ' -f5)" "$(echo "$direct_q0" | cut -d' ' -f5) / $(echo "$direct_q1" | cut -d' ' -f5) / $(echo "$direct_lat" | cut -d' ' -f5)"
  row "edge CPU per forwarded QoS 1 message (taken + forwarded)" "$(awk -v a="$before" -v b="$after" -v hz="$hz" -v n="$(echo "$through_q1" | cut -d' ' -f6)" 'BEGIN {printf "%.2f µs", (b - a) / hz * 1e6 / n}')" "-"
}
link_up_table mosquitto

echo
echo "| measure | value |"
echo "|---|---|"
echo "| edge CPU per QoS 1 publish, no bridge | $plain µs |"
echo "| edge CPU per QoS 1 publish, bridge down (queued on disk) | $queued µs |"
echo "| backlog after publishing | $backlog messages |"
echo "| drain of the backlog to mosquitto (from the reconnection) | $seconds s, $rate msg/s |"
echo "| edge CPU per drained message | $drain_cpu µs |"
echo "| forwarded_out_total | $(metric magnetite_bridge_forwarded_out_total) |"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# (5) The same link-up table with a second Magnetite as the upstream (mosquitto's own
# rate caps the first one).
kill "$EDGE" "$UP"; wait "$EDGE" "$UP" 2>/dev/null || true
start_edge
UPPORT=$MQTT; UP=$EDGE
start_edge --bridge "name=up,url=mqtt://127.0.0.1:$UPPORT,client-id=bench-edge,out=lt/# -> lt/# qos 1"
until [ "$(metric magnetite_bridge_connected)" = "1" ]; do sleep 0.02; done
link_up_table magnetite
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
