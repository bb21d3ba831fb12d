#!/usr/bin/env bash
# Latency tails and CPU per QoS 1 message, magnetite vs mosquitto, alternating over
# ROUNDS rounds (the first broker of a round alternates too), each broker started fresh:
#   1. an unloaded pub->sub probe: `magnetite-loadtest idle --clients 0 --probe-rate R`
#      (one publisher at R msg/s QoS 0, one subscriber), p50/p99/p99.9 per round;
#   2. `p2p --qos 1 --clients 1` flat out with --broker-pid: broker CPU per delivered
#      message.
# Prints a markdown table per measurement and the machine's load average before/after.
#
#   bash bench/latency.sh                                 # 5 rounds, ~5 minutes
#   ROUNDS=3 PROBE_RATE=500 PROBE_SECONDS=10 bash bench/latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
PROBE_RATE=${PROBE_RATE:-1000}
PROBE_SECONDS=${PROBE_SECONDS:-20}
QOS1_SECONDS=${QOS1_SECONDS:-10}
# shellcheck source=bench/lib.sh
source bench/lib.sh
prepare_run "bench/results/latency-$(date -u +%Y%m%dT%H%M%SZ)"
echo "load before: $(cat /proc/loadavg)" | tee "$OUT/load.txt" >&2

for round in $(seq "$ROUNDS"); do
  order="magnetite mosquitto"
  [ $((round % 2)) -eq 0 ] && order="mosquitto magnetite"
  for broker in $order; do
    start_broker "$broker" "$broker"
    DURATION=$PROBE_SECONDS run_load "probe-$round" "$broker" idle --clients 0 --probe-rate "$PROBE_RATE"
    DURATION=$QOS1_SECONDS run_load "qos1-$round" "$broker" p2p --qos 1 --clients 1
    stop_broker
  done
done
echo "load after: $(cat /proc/loadavg)" | tee -a "$OUT/load.txt" >&2

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name, broker):
    p = os.path.join(out, f"{name}.{broker}.json")
    return json.load(open(p)) if os.path.exists(p) else None
brokers = ["magnetite", "mosquitto"]
print("| round | broker | probe msgs | p50 us | p99 us | p99.9 us | max us |")
print("|---:|---|---:|---:|---:|---:|---:|")
tails = {b: {"p50": [], "p99": [], "p999": []} for b in brokers}
for r in range(1, rounds + 1):
    for b in brokers:
        rep = load(f"probe-{r}", b)
        lat = (rep or {}).get("probe_latency_us")
        if not lat:
            print(f"| {r} | {b} | - | - | - | - | - |"); continue
        for k in tails[b]: tails[b][k].append(lat[k])
        print(f"| {r} | {b} | {rep['probe_received']:,} | {lat['p50']} | {lat['p99']} | {lat['p999']} | {lat['max']} |")
print()
print("| median of the rounds | magnetite | mosquitto | ratio |")
print("|---|---:|---:|---:|")
for k, name in [("p50", "p50 us"), ("p99", "p99 us"), ("p999", "p99.9 us")]:
    m, q = (statistics.median(tails[b][k]) if tails[b][k] else None for b in brokers)
    ratio = f"{m / q:.2f}x" if m and q else "-"
    print(f"| {name} | {m} | {q} | {ratio} |")
print()
print("| round | magnetite CPU us/msg | mosquitto CPU us/msg | magnetite msg/s | mosquitto msg/s |")
print("|---:|---:|---:|---:|---:|")
cpu = {b: [] for b in brokers}
for r in range(1, rounds + 1):
    reps = [load(f"qos1-{r}", b) or {} for b in brokers]
    vals = [rep.get("broker_cpu_us_per_msg") for rep in reps]
    for b, v in zip(brokers, vals):
        if v is not None: cpu[b].append(v)
    fmt = lambda v: f"{v:.2f}" if v is not None else "-"
    print(f"| {r} | {fmt(vals[0])} | {fmt(vals[1])} | {reps[0].get('recv_rate', 0):,.0f} | {reps[1].get('recv_rate', 0):,.0f} |")
if cpu["magnetite"] and cpu["mosquitto"]:
    m, q = statistics.median(cpu["magnetite"]), statistics.median(cpu["mosquitto"])
    print(f"| median | {m:.2f} | {q:.2f} | ratio {m / q:.3f}x | |")
PY
echo "reports: $OUT" >&2
