#!/usr/bin/env bash
# Idle connections with one subscription each (bench/idle_subscribed.py): broker RSS per
# connection, magnetite (parking on, parking off) and mosquitto alternating, ROUNDS
# rounds; one JSON line per run and a summary. Then the same authenticated
# (AUTHENTICATED=1, the default): `--auth platform` with one platform client per
# connection, each subscribed to `m/<domain>/c/<channel>/<its id>` (a subscribe
# connection to one shared channel), against mosquitto with a password file of the
# same accounts.
#
#   IDLE_CLIENTS=10000 ROUNDS=2 bash bench/idle.sh
#   AUTHENTICATED=0 bash bench/idle.sh    # anonymous rows only
#   MAGNETITE_BIN=/path/to/older/magnetite bash bench/idle.sh   # another build
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
ROUNDS=${ROUNDS:-2}
DURATION=0
# shellcheck source=bench/lib.sh
source bench/lib.sh
prepare_run "bench/results/idle-$(date -u +%Y%m%dT%H%M%SZ)"
ulimit -n "$(ulimit -Hn)"

run_idle() {
  local label=$1
  shift
  python3 bench/idle_subscribed.py --port "$PORT" --pid "$PID" --clients "$IDLE_CLIENTS" \
    --label "$label" "$@" | tee -a "$OUT/idle.jsonl"
}

for _ in $(seq "$ROUNDS"); do
  start_broker magnetite magnetite; run_idle magnetite; stop_broker
  start_broker magnetite-unparked magnetite --park-idle-after 0; run_idle magnetite-unparked; stop_broker
  start_broker mosquitto mosquitto; run_idle mosquitto; stop_broker
done

if [ "${AUTHENTICATED:-1}" = 1 ]; then
  # shellcheck source=bench/idle_platform.sh
  source bench/idle_platform.sh
fi

python3 - "$OUT/idle.jsonl" <<'PY'
import json, sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["label"]].append(r["kib_per_connection"])
for label, values in runs.items():
    print(f"| {label} | {' / '.join(f'{v:.2f}' for v in values)} | {sum(values)/len(values):.2f} |")
PY
echo "reports: $OUT" >&2
