# Shared by the broker-comparison scripts (sourced; they set DURATION and call
# prepare_run first).

# prepare_run <reports dir>: sets OUT and LT; installs mosquitto if missing, builds
# magnetite and the load generator (release), raises the open-files limit.
prepare_run() {
  OUT=$1
  mkdir -p "$OUT"
  command -v mosquitto >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; }
  # NO_BUILD=1: use the release binaries already built (a build with another package
  # selection can recompile for minutes on a loaded machine).
  [ -n "${NO_BUILD:-}" ] || cargo build --release -q -p magnetite -p magnetite-loadtest
  LT=target/release/magnetite-loadtest
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

# mosquitto_passwd <credentials.csv>: mosquitto's password file (its PBKDF2-SHA512 `$7$`
# format) for the accounts of a `magnetite-loadtest --credentials` file, on stdout.
mosquitto_passwd() {
  python3 - "$1" <<'PY'
import base64, hashlib, os, sys
for line in open(sys.argv[1]):
    _, user, password = line.strip().split(",", 2)
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    print(f"{user}:$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}")
PY
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_broker <label> magnetite|mosquitto [magnetite flags | extra mosquitto.conf lines]
# Starts a fresh broker on loopback with an empty data dir ($DATA_DIR, default
# $OUT/data: set it to run several at once); sets PID and PORT.
# MAGNETITE_BIN runs another magnetite build (e.g. a copy of the previous one, for a
# before/after comparison); default: the one just built.
start_broker() {
  local label=$1 kind=$2 data=${DATA_DIR:-$OUT/data}
  shift 2
  PORT=$(free_port)
  rm -rf "$data" && mkdir -p "$data" && chmod 777 "$data"
  case $kind in
    magnetite)
      "${MAGNETITE_BIN:-target/release/magnetite}" serve --auth none --mqtt-addr 127.0.0.1:$PORT \
        --ws-addr 127.0.0.1:$(free_port) --http-addr 127.0.0.1:$(free_port) --data-dir "$data" \
        "$@" >"$OUT/$label.log" 2>&1 &
      ;;
    mosquitto)
      { printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 10000\nmax_connections -1\n' "$PORT"
        printf '%s\n' "$@"; } >"$OUT/$label.conf"
      mosquitto -c "$OUT/$label.conf" >"$OUT/$label.log" 2>&1 &
      ;;
    floor) # loadtest/examples/connect_floor.rs: the kernel floor of a connect
      "${FLOOR_BIN:-target/release/examples/connect_floor}" --port "$PORT" "$@" >"$OUT/$label.log" 2>&1 &
      ;;
  esac
  PID=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return 0; sleep 0.1; done
  echo "$label did not start" >&2; exit 1
}

stop_broker() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

# run_load <scenario name> <label> <loadtest args...>: one run against the broker started
# last; its report goes to $OUT/<name>.<label>.json (and .txt).
run_load() {
  local name=$1 label=$2
  shift 2
  echo "== $name on $label" >&2
  $LT "$@" --port "$PORT" --duration "$DURATION" --broker-pid "$PID" --label "$label" --quiet \
    --json "$OUT/$name.$label.json" >"$OUT/$name.$label.txt" 2>&1 || echo "   failed: see $OUT/$name.$label.txt" >&2
}
