#!/usr/bin/env bash
# Runs the same scenarios against magnetite and mosquitto (Debian package), alternating,
# on loopback, and prints a markdown table (magnetite vs mosquitto, ratio per row).
#
#   bash bench/compare.sh            # ~6 minutes; reports in bench/results/<timestamp>/
#   DURATION=5 bash bench/compare.sh # shorter runs
#   bash bench/compare.sh qos0 qos1  # only the scenarios whose name starts so
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
# shellcheck source=bench/lib.sh
source bench/lib.sh
prepare_run "bench/results/$(date -u +%Y%m%dT%H%M%SZ)"

# name | scenario and flags
SCENARIOS=(
  "qos0-p2p-1|p2p --qos 0 --clients 1"
  "qos0-p2p-50|p2p --qos 0 --clients 50"
  "qos1-p2p-1|p2p --qos 1 --clients 1"
  "qos1-p2p-50|p2p --qos 1 --clients 50"
  "qos0-fan-in-100|fan-in --qos 0 --pubs 100"
  "qos0-fan-out-100|fan-out --qos 0 --subs 100 --rate 20000"
  "conn|conn --clients 20000 --concurrency 200"
  "idle-$IDLE_CLIENTS|idle --clients $IDLE_CLIENTS --concurrency 500"
)

# wanted <name>: true when no name prefix was given or <name> starts with one of them.
PREFIXES=("$@")
wanted() {
  [ ${#PREFIXES[@]} -eq 0 ] && return 0
  local prefix
  for prefix in "${PREFIXES[@]}"; do [[ $1 == "$prefix"* ]] && return 0; done
  return 1
}

for entry in "${SCENARIOS[@]}"; do
  name=${entry%%|*}; args=${entry#*|}
  wanted "$name" || continue
  for broker in magnetite mosquitto; do
    start_broker $broker $broker
    # shellcheck disable=SC2086
    run_load "$name" $broker $args
    stop_broker
  done
done

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = []
def load(name, broker):
    p = os.path.join(out, f"{name}.{broker}.json")
    return json.load(open(p)) if os.path.exists(p) else None
names = sorted({f.split(".")[0] for f in os.listdir(out) if f.endswith(".json")}, key=lambda n: n)
print("| scenario | metric | magnetite | mosquitto | ratio |")
print("|---|---|---:|---:|---:|")
def row(name, metric, a, b, higher_better=True):
    if a is None or b is None:
        print(f"| {name} | {metric} | {a} | {b} | - |"); return
    r = (a / b) if b else float('inf')
    print(f"| {name} | {metric} | {a:,.1f} | {b:,.1f} | {r:.2f}x |")
for n in names:
    m, q = load(n, "magnetite"), load(n, "mosquitto")
    if not m or not q: continue
    if n.startswith("idle"):
        row(n, "broker KiB per connection", m.get("rss_kib_per_connection"), q.get("rss_kib_per_connection"))
    elif n == "conn":
        row(n, "connects/s", m.get("connects_per_s"), q.get("connects_per_s"))
    else:
        row(n, "recv msg/s", m["recv_rate"], q["recv_rate"])
        lm, lq = m.get("latency_us") or {}, q.get("latency_us") or {}
        row(n, "p99 latency us", lm.get("p99"), lq.get("p99"))
        row(n, "lost", float(m["lost"]), float(q["lost"]))
        row(n, "broker CPU us/msg", m.get("broker_cpu_us_per_msg"), q.get("broker_cpu_us_per_msg"))
PY
echo "reports: $OUT" >&2
