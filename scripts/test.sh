#!/usr/bin/env bash
# The one test command (README): installs what the tests talk to, then runs every test.
# Tests that need a server start it themselves on a free loopback port and fail (never
# skip) when it cannot start.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null || need_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null || need_apt+=(mosquitto-clients)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v nats-server >/dev/null || need_apt+=(nats-server)
command -v rabbitmq-server >/dev/null || need_apt+=(rabbitmq-server)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql)
command -v jq >/dev/null || need_apt+=(jq)
command -v curl >/dev/null || need_apt+=(curl)
command -v openssl >/dev/null || need_apt+=(openssl)
# node >= 18 for the official Magistrala SDK test (Debian bookworm's nodejs is 18).
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
need_pip=()
python3 -c 'import paho.mqtt' 2>/dev/null || need_pip+=(paho-mqtt)
python3 -c 'import aiosmtpd' 2>/dev/null || need_pip+=(aiosmtpd)
python3 -c 'import fastavro' 2>/dev/null || need_pip+=(fastavro)
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "installing: ${need_pip[*]} (pip)"
  python3 -m pip install -q "${need_pip[@]}"
fi
# The official Magistrala SDK at the version tests/sdk/package-lock.json pins, into
# tests/sdk/node_modules (git-ignored); again only when the lock file changed.
if [ ! tests/sdk/node_modules/.package-lock.json -nt tests/sdk/package-lock.json ]; then
  echo "installing: @absmach/magistrala-sdk (npm ci in tests/sdk)"
  (cd tests/sdk && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

# Several test binaries start brokers; two at a time suits a 2-core machine.
cargo test --workspace --lib --bins --tests --examples -- --test-threads=2
# The criterion benchmarks once each (criterion's test mode), as a smoke test: they take
# criterion's arguments, not the test harness's `--test-threads`.
cargo test --workspace --benches
