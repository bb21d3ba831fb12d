#!/usr/bin/env bash
# Overload protection's cost and behaviour (README "Overload protection"), magnetite only,
# each pair of variants alternated ROUNDS times on loopback:
# - storm: CLIENTS connect + disconnect (200 at a time) with no limit and with
#   --max-connect-rate RATE: connects admitted and refused, broker CPU per attempt.
# - budgets: QoS 0 p2p (1 publisher) with no limit and with --max-publish-rate and
#   --max-publish-bandwidth set too high to throttle: broker CPU per message, i.e. what
#   the per-PUBLISH budget check costs.
#
#   bash bench/overload.sh                       # ~3 minutes; reports in bench/results/overload-<timestamp>/
#   CLIENTS=20000 RATE=2000 ROUNDS=2 DURATION=10 bash bench/overload.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-20000}
RATE=${RATE:-2000}
ROUNDS=${ROUNDS:-2}
# shellcheck source=bench/lib.sh
source bench/lib.sh
prepare_run "bench/results/overload-$(date -u +%Y%m%dT%H%M%SZ)"

for round in $(seq "$ROUNDS"); do
  for variant in "open|" "limited|--max-connect-rate $RATE"; do
    name=storm-${variant%%|*}-$round
    # shellcheck disable=SC2086
    start_broker "$name" magnetite ${variant#*|}
    run_load "$name" magnetite conn --clients "$CLIENTS" --concurrency 200
    stop_broker
  done
  for variant in "none|" "budgets|--max-publish-rate 100000000 --max-publish-bandwidth 4000000000"; do
    name=p2p-${variant%%|*}-$round
    # shellcheck disable=SC2086
    start_broker "$name" magnetite ${variant#*|}
    run_load "$name" magnetite p2p --qos 0 --clients 1
    stop_broker
  done
done

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def reports(prefix):
    for f in sorted(os.listdir(out)):
        if f.startswith(prefix) and f.endswith(".json"):
            yield f.split(".")[0], json.load(open(os.path.join(out, f)))
print("| run | admitted | refused | connects/s | broker CPU us per attempt |")
print("|---|---:|---:|---:|---:|")
for name, r in reports("storm-"):
    cpu = r.get("broker_cpu_s")
    per = f"{cpu * 1e6 / r['clients']:.1f}" if cpu is not None else "-"
    admitted = r["connects_per_s"] * r["duration_s"]
    print(f"| {name} | {admitted:,.0f} | {r['errors']:,} | {r['connects_per_s']:,.0f} | {per} |")
print()
print("| run | recv msg/s | broker CPU us/msg |")
print("|---|---:|---:|")
for name, r in reports("p2p-"):
    cpu = r.get("broker_cpu_us_per_msg")
    print(f"| {name} | {r['recv_rate']:,.0f} | {cpu if cpu is None else round(cpu, 3)} |")
PY
echo "reports: $OUT" >&2
