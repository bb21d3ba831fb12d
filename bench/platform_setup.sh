# Sourced by the platform benchmarks: a platform broker on free ports (`start`, which
# sets PID) and N clients provisioned through the HTTP API into $OUT/credentials.csv.
# Needs BIN (the broker binary), OUT (results dir) and N; SERVE_FLAGS (optional) are
# added to `serve`.
# shellcheck source=bench/lib.sh
source bench/lib.sh   # free_port
MQTT=$(free_port); HTTP=$(free_port); WS=$(free_port)
export MAGNETITE_ADMIN_EMAIL=admin@example.com MAGNETITE_ADMIN_PASSWORD=bench-admin-pw
start() {
  "$BIN" serve --mqtt-addr 127.0.0.1:$MQTT --ws-addr 127.0.0.1:$WS \
    --http-addr 127.0.0.1:$HTTP --data-dir "$OUT/data" ${DATABASE_URL:+--database-url "$DATABASE_URL"} ${SERVE_FLAGS:-} \
    >>"$OUT/magnetite.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP/health" >/dev/null && return; sleep 0.1; done
  echo "magnetite did not start" >&2; exit 1
}
start
H=http://127.0.0.1:$HTTP
TOKEN=$(curl -sf -X POST $H/users/tokens/issue -H 'Content-Type: application/json' \
  -d "{\"username\":\"$MAGNETITE_ADMIN_EMAIL\",\"password\":\"$MAGNETITE_ADMIN_PASSWORD\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
DOMAIN=$(curl -sf -X POST $H/domains -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"bench","route":"bench"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
: >"$OUT/credentials.csv"
left=$N
while [ "$left" -gt 0 ]; do
  batch=$(( left > 1000 ? 1000 : left ))
  python3 -c "import json; print(json.dumps([{'name': 'dev-%d' % i} for i in range($batch)]))" \
    | curl -sf -X POST $H/$DOMAIN/clients/bulk -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d @- \
    | python3 -c 'import sys,json
for c in json.load(sys.stdin)["clients"]: print("%s,%s,%s" % (c["id"], c["id"], c["credentials"]["secret"]))' >>"$OUT/credentials.csv"
  left=$(( left - batch ))
done
echo "provisioned $(wc -l <"$OUT/credentials.csv") clients"
