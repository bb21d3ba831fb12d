#!/usr/bin/env bash
# The HTTP publish example of Magistrala's SuperMQ-era docs (absmach/supermq at
# 67c28ff13, http/README.md "Example publish"), pasted unchanged but for the address
# ($H), the ids and `<client_token>` (the client's secret). Runs after
# magistrala_curl.sh (KEEP_CLIENT=1) in the same directory, from its journey.env; a
# device subscribed over MQTT ($P) must receive the message.
set -euo pipefail
: "${H:?the API address}" "${P:?the MQTT port}"
# shellcheck source=/dev/null
. ./journey.env

# setup: the other device listens on the channel's subtopic.
mosquitto_sub -h 127.0.0.1 -p "$P" -i listener -u "$LISTENER_ID" -P "$LISTENER_SECRET" \
  -t "m/$DOMAIN_ID/c/$CHANNEL_ID/sub/topic" -C 1 -W 15 > received.txt &
LISTENER=$!
sleep 1

ANSWER=$(
curl -X POST $H/m/$DOMAIN_ID/c/$CHANNEL_ID/sub/topic \
  -H "Authorization: Bearer $CLIENT_SECRET" \
  -H "Content-Type: application/json" \
  -d '{ "temp": 22.5, "unit": "C" }'
)
if [ -n "$ANSWER" ]; then
  kill "$LISTENER" 2>/dev/null || true
  echo "STEP http-publish FAILED: $ANSWER" >&2
  exit 1
fi
wait "$LISTENER"
if ! jq -e '.temp == 22.5 and .unit == "C"' received.txt >/dev/null; then
  echo "STEP http-publish FAILED: the subscriber got: $(cat received.txt)" >&2
  exit 1
fi
echo "STEP http-publish ok"
