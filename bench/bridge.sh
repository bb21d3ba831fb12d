#!/usr/bin/env bash
# Gateway bridge (`--bridge`): what queueing costs the edge per QoS 1 publish, and how
# fast a backlog drains to a mosquitto upstream once it comes back. CPU seconds of the
# edge process (utime + stime from /proc, independent of other load on the machine)
# per message, and wall-clock drain rate (load dependent: the load average is printed).
#
#   N=100000 bash bench/bridge.sh          # needs target/release/magnetite, mosquitto, mosquitto_pub
#
# Phases, one run: (1) the edge without a bridge takes N QoS 1 messages; (2) the same
# edge binary with a bridge whose upstream is down takes N (each appended to the queue
# before its PUBACK); (3) the upstream starts, the backlog of N drains.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
BIN=${MAGNETITE_BIN:-target/release/magnetite}
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
start_edge --bridge "name=up,url=mqtt://127.0.0.1:$UPPORT,client-id=bench-edge,out=site/# -> cloud/site/# qos 1"
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
