# Sourced by bench/idle.sh: the authenticated rows. Provisions IDLE_CLIENTS platform
# clients and one channel they may all subscribe to, then measures idle connections
# (each with its own account and subscription) on a fresh broker process, parked and
# unparked, and on mosquitto with a password file of the same accounts.
N=$IDLE_CLIENTS
BIN=${MAGNETITE_BIN:-target/release/magnetite}
# shellcheck source=bench/platform_setup.sh
source bench/platform_setup.sh
# shellcheck source=bench/platform_channel.sh
source bench/platform_channel.sh
kill -TERM "$PID"; wait "$PID" || true

# Mosquitto's password file for the same accounts (its PBKDF2-SHA512 `$7$` format).
mosquitto_passwd "$OUT/credentials.csv" >"$OUT/mosquitto.passwd"

run_platform() {
  local label=$1
  start   # a fresh process on the provisioned store: every connect reads it once
  PORT=$MQTT run_idle "$label" --credentials "$OUT/credentials.csv" --topic "$TOPIC"
  kill -TERM "$PID"; wait "$PID" || true
}

for _ in $(seq "$ROUNDS"); do
  SERVE_FLAGS= run_platform magnetite-platform
  SERVE_FLAGS="--park-idle-after 0" run_platform magnetite-platform-unparked
  DATA_DIR=$OUT/mosquitto-data start_broker mosquitto-passwd mosquitto "password_file $OUT/mosquitto.passwd" "allow_anonymous false"
  run_idle mosquitto-passwd --credentials "$OUT/credentials.csv" --topic "$TOPIC"
  stop_broker
done
