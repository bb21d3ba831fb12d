#!/usr/bin/env bash
# Authenticated idle connections at several sizes: splits the broker's RSS growth into
# a fixed part and a per-connection slope (growth = fixed + slope * N, least squares),
# for one or more magnetite builds, alternating. Provisions max(SIZES) platform clients
# once (bench/platform_setup.sh, one subscribe connection each to one channel), then
# for each round, size and build: a fresh broker (`--auth platform`) on a copy of the
# provisioned store, so every CONNECT reads the store once, and
# bench/idle_subscribed.py with that many connections. ANONYMOUS=1 adds the same sizes
# with `--auth none` (no store reads) for each build.
#
#   SIZES="2500 5000 10000" ROUNDS=1 BINS="target/release/magnetite /work/main/target/release/magnetite" \
#     bash bench/idle_sizes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"2500 5000 10000"}
ROUNDS=${ROUNDS:-1}
BINS=${BINS:-target/release/magnetite}
NO_BUILD=1
DURATION=0
# shellcheck source=bench/lib.sh
source bench/lib.sh
prepare_run "bench/results/idle-sizes-$(date -u +%Y%m%dT%H%M%SZ)"
ulimit -n "$(ulimit -Hn)"
N=$(printf '%s\n' $SIZES | sort -n | tail -1)
BIN=${BINS%% *}
# shellcheck source=bench/platform_setup.sh
source bench/platform_setup.sh
# shellcheck source=bench/platform_channel.sh
source bench/platform_channel.sh
kill -TERM "$PID"; wait "$PID" || true
mv "$OUT/data" "$OUT/provisioned"

# run_size <label> <bin> <clients> [serve flags]: fresh store copy, fresh broker.
run_size() {
  local label=$1 bin=$2 clients=$3
  shift 3
  rm -rf "$OUT/data" && cp -a "$OUT/provisioned" "$OUT/data"
  BIN=$bin SERVE_FLAGS="$*" start
  python3 bench/idle_subscribed.py --port "$MQTT" --pid "$PID" --clients "$clients" \
    --label "$label" --credentials "$OUT/credentials.csv" --topic "$TOPIC" | tee -a "$OUT/idle.jsonl"
  kill -TERM "$PID"; wait "$PID" || true
}

for _ in $(seq "$ROUNDS"); do
  for clients in $SIZES; do
    i=0
    for bin in $BINS; do
      i=$((i + 1))
      run_size "build$i-platform" "$bin" "$clients"
      if [ "${ANONYMOUS:-0}" = 1 ]; then
        run_size "build$i-anonymous" "$bin" "$clients" --auth none
      fi
    done
  done
done

echo "builds: $BINS" >&2
python3 - "$OUT/idle.jsonl" <<'PY'
import json, sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["label"]].append((r["clients"], r["rss_after_kib"] - r["rss_before_kib"]))
print("| run | points (N: growth KiB) | fixed KiB | slope B/connection | KiB/connection at max N |")
print("|---|---|---:|---:|---:|")
for label, points in runs.items():
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    slope = sum((p[0] - mx) * (p[1] - my) for p in points) / sxx if sxx else float("nan")
    fixed = my - slope * mx
    top = max(points)
    shown = ", ".join(f"{c}: {g}" for c, g in sorted(points))
    print(f"| {label} | {shown} | {fixed:.0f} | {slope * 1024:.0f} | {top[1] / top[0]:.2f} |")
PY
echo "reports: $OUT" >&2
