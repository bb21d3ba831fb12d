#!/usr/bin/env bash
# Broker CPU per connect + disconnect, user and system time apart, magnetite against
# mosquitto 2.0.11 in the same run, rounds alternating between them (other work on the
# machine hits both alike): anonymous (`--auth none`, each connect writes its connect
# and disconnect events to the outbox), authenticated cold (a fresh process: every
# connect reads the store), authenticated warm (the same clients again) and mosquitto
# with a password file of the same accounts. CPU is utime / stime from /proc/<pid>/stat
# before and after each `magnetite-loadtest conn` run.
#
#   cargo build --release -p magnetite -p magnetite-loadtest
#   bash bench/connect_cpu.sh                  # N=10000 ROUNDS=3
#   MAGNETITE_BIN=<build> OTHER_BIN=<older build> bash bench/connect_cpu.sh   # + a before column
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-200}
BIN=${MAGNETITE_BIN:-target/release/magnetite}
OTHER=${OTHER_BIN:-}
LT=${LOADTEST_BIN:-target/release/magnetite-loadtest}
OUT=bench/results/connect-cpu-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
TICK=$(getconf CLK_TCK)

# cpu_ticks <pid>: "utime stime" in clock ticks.
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

# measure <label> <pid> <port> [loadtest args]: one run of N connects; appends
# "label user_us sys_us" (per connect) to $OUT/cpu.txt.
measure() {
  local label=$1 pid=$2 port=$3
  shift 3
  local before after
  before=$(cpu_ticks "$pid")
  $LT conn --port "$port" --clients "$N" --concurrency "$CONCURRENCY" --quiet "$@" >>"$OUT/loadtest.txt"
  sleep 1 # the event writer's last batch and the readers' catch-up belong to the run
  after=$(cpu_ticks "$pid")
  echo "$label $before $after" | awk -v n="$N" -v t="$TICK" \
    '{u=($4-$2)/t/n*1e6; s=($5-$3)/t/n*1e6; printf "%s %.1f %.1f\n", $1, u, s}' | tee -a "$OUT/cpu.txt"
}

anonymous_round() {
  local label=$1 bin=$2
  MAGNETITE_BIN=$bin start_broker "$label" magnetite
  $LT conn --port "$PORT" --clients 500 --concurrency 50 --quiet >/dev/null # warm-up
  measure "anon-$label" "$PID" "$PORT"
  stop_broker
}

mosquitto_round() {
  start_broker mosquitto mosquitto "$@"
  $LT conn --port "$PORT" --clients 500 --concurrency 50 --quiet ${CRED[@]+"${CRED[@]}"} >/dev/null
  measure "$LABEL" "$PID" "$PORT" ${CRED[@]+"${CRED[@]}"}
  stop_broker
}

for _ in $(seq "$ROUNDS"); do
  anonymous_round magnetite "$BIN"
  CRED=()
  LABEL=anon-mosquitto mosquitto_round
  [ -z "$OTHER" ] || anonymous_round other "$OTHER"
done

# Authenticated: N clients provisioned through the HTTP API (bench/platform_setup.sh).
# shellcheck source=bench/platform_setup.sh
source bench/platform_setup.sh
sleep 3 # the readers copy the provisioning's events before the restart
kill -TERM "$PID"; wait "$PID" || true
mosquitto_passwd "$OUT/credentials.csv" >"$OUT/mosquitto.passwd"
platform_round() {
  local label=$1
  BIN=$2 start # a fresh process on the provisioned store: the cache is empty
  measure "cold-$label" "$PID" "$MQTT" --credentials "$OUT/credentials.csv"
  measure "warm-$label" "$PID" "$MQTT" --credentials "$OUT/credentials.csv"
  kill -TERM "$PID"; wait "$PID" || true
}
for _ in $(seq "$ROUNDS"); do
  platform_round magnetite "$BIN"
  CRED=(--credentials "$OUT/credentials.csv")
  LABEL=auth-mosquitto DATA_DIR=$OUT/mosquitto-data mosquitto_round "password_file $OUT/mosquitto.passwd" "allow_anonymous false"
  [ -z "$OTHER" ] || platform_round other "$OTHER"
done

echo "per connect + disconnect (us): label user sys total, mean over $ROUNDS rounds"
awk '{u[$1]+=$2; s[$1]+=$3; k[$1]++} END {for (l in u) printf "%-16s %6.1f %6.1f %6.1f\n", l, u[l]/k[l], s[l]/k[l], (u[l]+s[l])/k[l]}' \
  "$OUT/cpu.txt" | sort
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"
