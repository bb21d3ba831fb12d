#!/usr/bin/env bash
# Two magnetite instances on one nats-server -js (--cluster-nats): delivery on the same
# instance vs across instances (publishers on A, subscribers on B), QoS 0 and QoS 1,
# plus one instance without a cluster as the baseline. Prints a markdown table with
# msg/s, p99 latency, and the CPU each process spent per delivered message (utime +
# stime from /proc/<pid>/stat over the run).
#
#   DURATION=8 CLIENTS=20 bash bench/cluster.sh   # ~1.5 minutes; reports in bench/results/cluster-<timestamp>/
#   RATE=1000 ...                                  # msg/s per publisher (default 0: as fast as possible)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
CLIENTS=${CLIENTS:-20}
RATE=${RATE:-0}
# shellcheck source=bench/lib.sh
source bench/lib.sh
prepare_run "bench/results/cluster-$(date -u +%Y%m%dT%H%M%SZ)"
command -v nats-server >/dev/null || { echo "nats-server is needed (apt-get install nats-server)" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

NATS_PORT=$(free_port)
mkdir -p "$OUT/nats"
nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$OUT/nats" >"$OUT/nats.log" 2>&1 &
NATS_PID=$!
trap 'kill $NATS_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT) 2>/dev/null && break; sleep 0.1; done

CLUSTER=(--cluster-nats "nats://127.0.0.1:$NATS_PORT")
DATA_DIR=$OUT/data-alone start_broker alone magnetite
PID_ALONE=$PID PORT_ALONE=$PORT
DATA_DIR=$OUT/data-a start_broker a magnetite "${CLUSTER[@]}" --instance-id bench-a
PID_A=$PID PORT_A=$PORT
DATA_DIR=$OUT/data-b start_broker b magnetite "${CLUSTER[@]}" --instance-id bench-b
PID_B=$PID PORT_B=$PORT
sleep 2 # both linked to NATS, the message stream created

# measure <name> <pid of the publishers' broker> <port> [loadtest args]: one p2p run;
# the CPU ticks of A, B and nats-server over it go to $OUT/<name>.cpu.
measure() {
  local name=$1
  PID=$2 PORT=$3
  shift 3
  local a0 b0 n0 x0
  a0=$(cpu_ticks "$PID_A"); b0=$(cpu_ticks "$PID_B"); n0=$(cpu_ticks "$NATS_PID"); x0=$(cpu_ticks "$PID_ALONE")
  run_load "$name" run p2p --clients "$CLIENTS" --rate "$RATE" "$@"
  echo "$(($(cpu_ticks "$PID_A") - a0)) $(($(cpu_ticks "$PID_B") - b0)) $(($(cpu_ticks "$NATS_PID") - n0)) $(($(cpu_ticks "$PID_ALONE") - x0))" >"$OUT/$name.cpu"
}

for qos in 0 1; do
  measure "qos$qos-alone" "$PID_ALONE" "$PORT_ALONE" --qos "$qos"
  measure "qos$qos-same-instance" "$PID_A" "$PORT_A" --qos "$qos"
  measure "qos$qos-cross-instance" "$PID_A" "$PORT_A" --qos "$qos" --sub-port "$PORT_B"
done
for pid in "$PID_ALONE" "$PID_A" "$PID_B"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done

python3 - "$OUT" "$(getconf CLK_TCK)" <<'PY'
import json, os, sys
out, hz = sys.argv[1], int(sys.argv[2])
print("| run | recv msg/s | p99 latency us | lost | CPU us/msg: instance A (publishers) | instance B | nats-server | alone |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for qos in (0, 1):
    for where in ("alone", "same-instance", "cross-instance"):
        name = f"qos{qos}-{where}"
        path = os.path.join(out, f"{name}.run.json")
        if not os.path.exists(path):
            print(f"| {name} | failed | | | | | | |")
            continue
        r = json.load(open(path))
        ticks = [int(t) for t in open(os.path.join(out, f"{name}.cpu")).read().split()]
        per = lambda t: f"{t / hz * 1e6 / r['received']:.1f}" if r["received"] else "-"
        p99 = (r.get("latency_us") or {}).get("p99", "-")
        print(f"| {name} | {r['recv_rate']:,.0f} | {p99} | {r['lost']} | " + " | ".join(per(t) for t in ticks) + " |")
PY
echo "reports: $OUT" >&2
