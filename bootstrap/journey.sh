#!/usr/bin/env bash
# The device bootstrap journey, from a shell (curl, jq, openssl, mosquitto clients).
# Against a running `magnetite serve` started with MAGNETITE_BOOTSTRAP_ENCRYPT_KEY=$BOOTSTRAP_KEY:
#
#   H=http://127.0.0.1:9000 P=1883 MAGNETITE_ADMIN_EMAIL=... MAGNETITE_ADMIN_PASSWORD=... \
#   BOOTSTRAP_KEY=<64 hex chars> bash bootstrap/journey.sh
#
# Each step prints "STEP <name> ok"; any failure stops the script with a message.
set -euo pipefail
: "${H:?} ${P:?} ${BOOTSTRAP_KEY:?} ${MAGNETITE_ADMIN_EMAIL:?} ${MAGNETITE_ADMIN_PASSWORD:?}"
J='Content-Type: application/json'
fail() { echo "FAILED: $*" >&2; exit 1; }
hex() { od -An -v -tx1 | tr -d ' \n'; }

# Operator: token, domain, channel, and a config for a device that does not exist yet.
TOKEN=$(curl -sf -X POST "$H/users/tokens/issue" -H "$J" \
  -d "{\"username\":\"$MAGNETITE_ADMIN_EMAIL\",\"password\":\"$MAGNETITE_ADMIN_PASSWORD\"}" | jq -r .access_token)
A="Authorization: Bearer $TOKEN"
D=$(curl -sf -X POST "$H/domains" -H "$A" -H "$J" -d '{"name":"Fleet","route":"fleet"}' | jq -r .id)
CH=$(curl -sf -X POST "$H/$D/channels" -H "$A" -H "$J" -d '{"name":"telemetry"}' | jq -r .id)
EXT_ID=gw-0001 EXT_KEY=factory-secret-0001
curl -sf -X POST "$H/$D/clients/configs" -H "$A" -H "$J" \
  -d "{\"external_id\":\"$EXT_ID\",\"external_key\":\"$EXT_KEY\",\"name\":\"gateway\",\"content\":\"{\\\"interval\\\":5}\",\"channels\":[\"$CH\"]}" >/dev/null
echo "STEP config-created ok"

# Device: plain bootstrap with its external id and key.
curl -sf "$H/clients/bootstrap/$EXT_ID" -H "Authorization: Client $EXT_KEY" > boot.json
C=$(jq -r .client_id boot.json); S=$(jq -r .client_secret boot.json)
[ "$(jq -r '.channels[0].id' boot.json)" = "$CH" ] || fail "channel not in the bootstrap answer"
[ "$(jq -r .content boot.json)" = '{"interval":5}' ] || fail "content"
echo "STEP bootstrap-plain ok"

# Device: secure bootstrap (AES-256-CFB, IV first; see bootstrap/README.md).
IV=$(openssl rand -hex 16)
ENC=$(printf %s "$EXT_KEY" | openssl enc -aes-256-cfb -K "$BOOTSTRAP_KEY" -iv "$IV" | hex)
curl -sf "$H/clients/bootstrap/secure/$EXT_ID" -H "Authorization: Client $IV$ENC" -o secure.bin
RIV=$(head -c 16 secure.bin | hex)
tail -c +17 secure.bin | openssl enc -d -aes-256-cfb -K "$BOOTSTRAP_KEY" -iv "$RIV" > secure.json
[ "$(jq -r .client_id secure.json)" = "$C" ] || fail "secure bootstrap gave another client"
echo "STEP bootstrap-secure ok"

# Refusals change nothing.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$H/clients/bootstrap/$EXT_ID" -H "Authorization: Client wrong-key")" = 403 ] || fail "wrong key"
[ "$(code "$H/clients/bootstrap/nobody" -H "Authorization: Client $EXT_KEY")" = 403 ] || fail "unknown id answers like a wrong key"
[ "$(code "$H/clients/bootstrap/secure/$EXT_ID" -H "Authorization: Client not-hex")" = 400 ] || fail "malformed"
[ "$(curl -sf "$H/$D/clients/configs/$C" -H "$A" | jq -r .state)" = 0 ] || fail "state changed"
echo "STEP refusals ok"

# Not whitelisted yet: MQTT refused.
if mosquitto_pub -h 127.0.0.1 -p "$P" -u "$C" -P "$S" -t "m/$D/c/$CH" -m 1 -q 1 2>/dev/null; then
  fail "publish accepted before the whitelist"
fi
echo "STEP refused-before-whitelist ok"

# Whitelist: state 1 connects the device to its channels.
curl -sf -X PUT "$H/$D/clients/state/$C" -H "$A" -H "$J" -d '{"state":1}' >/dev/null
mosquitto_sub -h 127.0.0.1 -p "$P" -u "$C" -P "$S" -t "m/$D/c/$CH" -C 1 -W 10 > got.txt &
SUB=$!
sleep 1
mosquitto_pub -h 127.0.0.1 -p "$P" -u "$C" -P "$S" -t "m/$D/c/$CH" -m 42 -q 1 || fail "publish after whitelist"
wait $SUB || fail "subscriber"
[ "$(cat got.txt)" = 42 ] || fail "message not received"
echo "STEP whitelisted ok"

# State 0: the live session ends at once.
mosquitto_sub -h 127.0.0.1 -p "$P" -V mqttv5 -u "$C" -P "$S" -t "m/$D/c/$CH" -W 20 >/dev/null &
SUB=$!
sleep 1
curl -sf -X PUT "$H/$D/clients/state/$C" -H "$A" -H "$J" -d '{"state":0}' >/dev/null
for _ in $(seq 20); do kill -0 $SUB 2>/dev/null || break; sleep 0.1; done
kill -0 $SUB 2>/dev/null && { kill $SUB; fail "session still alive 2 s after state 0"; }
echo "STEP revoked ok"
echo "CLIENT $C"
