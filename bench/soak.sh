#!/usr/bin/env bash
# The soak: one magnetite (release, --auth none) holding as many connections as this
# machine allows for DURATION seconds under mixed traffic, sampled every 10 s:
#   - IDLE idle connections, each subscribed to its own topic, keep-alive 60 s (pinging),
#     over IDLE_PROCS generator processes binding 10 loopback source addresses each
#     (one process holds at most `ulimit -Hn` sockets);
#   - PAIRS publisher/subscriber pairs at RATE msg/s each with QoS 0, as many with QoS 1;
#   - a probe (PROBE_RATE msg/s) in the first idle process: pub->sub latency under load.
# The broker's RSS, open file descriptors (/proc/<pid>/fd) and CPU time go to
# samples.csv; the summary gives the RSS slope over the steady part (all connections
# up, before the load stops), the fds before the load and after it ended (a leak shows
# as a difference), the broker's CPU and the probe's percentiles.
#
#   bash bench/soak.sh                        # 600 s, ~19,000 connections
#   DURATION=60 IDLE=2000 bash bench/soak.sh  # a quick one
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
IDLE=${IDLE:-18600}
IDLE_PROCS=${IDLE_PROCS:-2}
PAIRS=${PAIRS:-100}
RATE=${RATE:-10}
PROBE_RATE=${PROBE_RATE:-100}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
# shellcheck source=bench/lib.sh
source bench/lib.sh
prepare_run "bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)"
ulimit -n "$(ulimit -Hn)"
echo "load before: $(cat /proc/loadavg); fd limit $(ulimit -n)" | tee "$OUT/load.txt" >&2

start_broker magnetite magnetite
sleep 2
fds() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
cpu() { awk '{ print ($14 + $15) / 100 }' "/proc/$PID/stat"; }
# Kernel memory per socket: the slab caches a TCP connection's objects live in.
slab() { grep -E '^(TCP|sock_inode_cache|eventpoll_epi) ' /proc/slabinfo 2>/dev/null || true; }
FDS_BEFORE=$(fds)
RSS_BEFORE=$(rss)
slab >"$OUT/slab-before.txt"

echo "t_s,rss_kib,fds,cpu_s" >"$OUT/samples.csv"
T0=$(date +%s)
( while kill -0 "$PID" 2>/dev/null; do
    echo "$(( $(date +%s) - T0 )),$(rss),$(fds),$(cpu)" >>"$OUT/samples.csv"
    sleep "$SAMPLE_EVERY"
  done ) &
SAMPLER=$!

GENERATORS=()
per=$(( IDLE / IDLE_PROCS ))
for k in $(seq 0 $(( IDLE_PROCS - 1 ))); do
  probe=()
  [ "$k" -eq 0 ] && probe=(--probe-rate "$PROBE_RATE")
  first=$(( 2 + k * 10 ))
  $LT idle --port "$PORT" --clients "$per" --topic "soak/idle/$k/%i" --qos 1 \
    --concurrency 500 --keep-alive 60 --duration "$DURATION" \
    --source-addrs "127.0.0.$first-127.0.0.$(( first + 9 ))" --client-prefix "soak$k" \
    "${probe[@]}" --label "idle-$k" --quiet --json "$OUT/idle-$k.json" >"$OUT/idle-$k.txt" 2>&1 &
  GENERATORS+=($!)
done
# The messages start once the idle fleet is up (connects take a while at this size).
for _ in $(seq 300); do [ "$(fds)" -ge $(( IDLE * 95 / 100 )) ] && break; sleep 1; done
STEADY_FROM=$(( $(date +%s) - T0 ))
( sleep 60; slab >"$OUT/slab-steady.txt"; echo $(( $(fds) - FDS_BEFORE )) >"$OUT/slab-conns.txt" ) &
for qos in 0 1; do
  $LT p2p --port "$PORT" --qos "$qos" --clients "$PAIRS" --rate "$RATE" \
    --duration "$(( DURATION - 10 ))" --client-prefix "soakp$qos" --label "p2p-qos$qos" \
    --quiet --json "$OUT/p2p-qos$qos.json" >"$OUT/p2p-qos$qos.txt" 2>&1 &
  GENERATORS+=($!)
done
for g in "${GENERATORS[@]}"; do wait "$g" || echo "a generator failed: see $OUT/*.txt" >&2; done
STEADY_TO=$(( $(date +%s) - T0 ))
sleep 15   # closed connections released
FDS_AFTER=$(fds)
RSS_AFTER=$(rss)
kill "$SAMPLER" 2>/dev/null || true
stop_broker
echo "load after: $(cat /proc/loadavg)" | tee -a "$OUT/load.txt" >&2

python3 - "$OUT" "$STEADY_FROM" "$STEADY_TO" "$FDS_BEFORE" "$FDS_AFTER" "$RSS_BEFORE" "$RSS_AFTER" <<'PY'
import csv, json, os, sys
out, t_from, t_to, fds_before, fds_after, rss_before, rss_after = sys.argv[1], *map(int, sys.argv[2:])
rows = [dict((k, float(v)) for k, v in r.items()) for r in csv.DictReader(open(os.path.join(out, "samples.csv")))]
steady = [r for r in rows if t_from + 30 <= r["t_s"] <= t_to - 10]  # after the ramp's settling
def slope(xs, ys):
    n = len(xs); mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
reports = {f[:-5]: json.load(open(os.path.join(out, f))) for f in os.listdir(out) if f.endswith(".json")}
conns = sum(r.get("clients", 0) for r in reports.values()) + (2 if any(r.get("probe_sent") for r in reports.values()) else 0)
print(f"| measure | value |")
print(f"|---|---:|")
print(f"| connections held (generators' reports) | {conns:,} |")
print(f"| peak broker fds | {int(max(r['fds'] for r in rows)):,} |")
if len(steady) >= 2:
    xs = [r["t_s"] / 60 for r in steady]; ys = [r["rss_kib"] for r in steady]
    s = slope(xs, ys)
    print(f"| steady window | {int(steady[0]['t_s'])}-{int(steady[-1]['t_s'])} s ({len(steady)} samples) |")
    print(f"| broker RSS at start / end of steady window | {ys[0] / 1024:,.1f} / {ys[-1] / 1024:,.1f} MiB |")
    print(f"| RSS slope over the steady window | {s:+,.1f} KiB/min ({s * 60 / 1024:+,.2f} MiB/h; {100 * s / ys[0]:+.3f} %/min) |")
    print(f"| RSS min / max in steady window | {min(ys) / 1024:,.1f} / {max(ys) / 1024:,.1f} MiB |")
    cpu = (steady[-1]["cpu_s"] - steady[0]["cpu_s"]) / (steady[-1]["t_s"] - steady[0]["t_s"])
    print(f"| broker CPU over steady window | {100 * cpu:.1f} % of one core |")
print(f"| broker RSS idle before / after the load | {rss_before / 1024:,.1f} / {rss_after / 1024:,.1f} MiB |")
print(f"| broker fds before the load / 15 s after it ended | {fds_before} / {fds_after} ({fds_after - fds_before:+d}) |")
def slab(name):
    path = os.path.join(out, name)
    if not os.path.exists(path): return None
    return {l.split()[0]: int(l.split()[1]) * int(l.split()[3]) for l in open(path) if l.strip()}
before, during = slab("slab-before.txt"), slab("slab-steady.txt")
if before and during and os.path.exists(os.path.join(out, "slab-conns.txt")):
    n = int(open(os.path.join(out, "slab-conns.txt")).read())
    per = {k: (during[k] - before.get(k, 0)) / n for k in during}
    detail = ", ".join(f"{k} {v:,.0f}" for k, v in per.items())
    print(f"| kernel slab per connection, both loopback ends ({n:,} connections) | {sum(per.values()):,.0f} B ({detail}) |")
for name, r in sorted(reports.items()):
    lat = r.get("probe_latency_us")
    if lat:
        print(f"| probe ({r['probe_received']:,} of {r['probe_sent']:,}) p50 / p99 / p99.9 / max | {lat['p50']} / {lat['p99']} / {lat['p999']} / {lat['max']} us |")
    if r["scenario"] == "p2p":
        l = r.get("latency_us") or {}
        print(f"| {name}: sent / received / lost / p99 | {r['sent']:,} / {r['received']:,} / {r['lost']} / {l.get('p99')} us |")
    if r["scenario"] == "idle":
        print(f"| {name}: held / errors | {r['clients']:,} / {r['errors']} |")
PY
echo "reports: $OUT" >&2
