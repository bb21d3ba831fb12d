#!/usr/bin/env bash
# QoS 1 throughput with persistent sessions (clean start off, 1 h expiry, so every
# delivery goes through the store): magnetite `--persistence none|batched|sync` against
# mosquitto (Debian package) with `persistence true`, alternating in one run on
# loopback; prints a markdown table (each magnetite policy and its ratio to mosquitto).
#
#   DURATION=8 bash bench/persistence.sh   # ~2 minutes; reports in bench/results/persistence-<timestamp>/
#   BROKERS="magnetite-sync mosquitto" MAGNETITE_BIN=/path/to/old/magnetite DURATION=4 bash bench/persistence.sh
#                                          # a subset of brokers, another magnetite build
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
# shellcheck source=bench/lib.sh
source bench/lib.sh
prepare_run "bench/results/persistence-$(date -u +%Y%m%dT%H%M%SZ)"

SCENARIOS=(
  "qos1-p2p-1|p2p --qos 1 --clients 1"
  "qos1-p2p-50|p2p --qos 1 --clients 50"
  "qos1-fan-in-100|fan-in --qos 1 --pubs 100"
)
read -ra BROKERS <<<"${BROKERS:-magnetite-none magnetite-batched magnetite-sync mosquitto}"

for entry in "${SCENARIOS[@]}"; do
  name=${entry%%|*}; args=${entry#*|}
  for broker in "${BROKERS[@]}"; do
    case $broker in
      mosquitto) start_broker mosquitto mosquitto 'persistence true' "persistence_location $OUT/data/" ;;
      *) start_broker "$broker" magnetite --persistence "${broker#magnetite-}" ;;
    esac
    # shellcheck disable=SC2086
    run_load "$name" "$broker" $args --persistent-sessions
    stop_broker
  done
done

python3 - "$OUT" "${BROKERS[@]}" <<'PY'
import json, os, sys
out, brokers = sys.argv[1], sys.argv[2:]
def load(name, broker):
    p = os.path.join(out, f"{name}.{broker}.json")
    return json.load(open(p)) if os.path.exists(p) else None
names = sorted({f.split(".")[0] for f in os.listdir(out) if f.endswith(".json")})
mag = [b for b in brokers if b != "mosquitto"]
print("| scenario | metric | " + " | ".join(brokers) + " | " + " | ".join(f"{b.split('-')[1]} / mosquitto" for b in mag) + " |")
print("|---|---|" + "---:|" * (len(brokers) + len(mag)))
metrics = [("recv msg/s", lambda r: r["recv_rate"]),
           ("p99 latency us", lambda r: (r.get("latency_us") or {}).get("p99")),
           ("lost", lambda r: float(r["lost"])),
           ("broker CPU us/msg", lambda r: r.get("broker_cpu_us_per_msg"))]
fmt = lambda v: "-" if v is None else f"{v:,.1f}"
for n in names:
    runs = {b: load(n, b) for b in brokers}
    for label, get in metrics:
        vals = {b: (get(r) if r else None) for b, r in runs.items()}
        q = vals.get("mosquitto")
        ratios = [("-" if vals[b] is None or not q else f"{vals[b] / q:.2f}x") for b in mag]
        print(f"| {n} | {label} | " + " | ".join(fmt(vals[b]) for b in brokers) + " | " + " | ".join(ratios) + " |")
PY
echo "reports: $OUT" >&2
