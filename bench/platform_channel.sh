# Sourced after bench/platform_setup.sh (which provisioned "$OUT/credentials.csv" on the
# broker at $H): one channel every provisioned client may subscribe to, connected 1,000
# clients per request; sets CHANNEL and TOPIC (each device's own topic, `{id}` filled in
# by bench/idle_subscribed.py).
CHANNEL=$(curl -sf -X POST "$H/$DOMAIN/channels" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"commands"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
split -l 1000 "$OUT/credentials.csv" "$OUT/connect-batch-"
for batch in "$OUT"/connect-batch-*; do
  python3 - "$batch" "$CHANNEL" <<'PY' | curl -sf -X POST "$H/$DOMAIN/channels/connect" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d @- >/dev/null
import json, sys
ids = [line.split(",")[0] for line in open(sys.argv[1]) if line.strip()]
print(json.dumps({"channel_ids": [sys.argv[2]], "client_ids": ids, "types": ["subscribe"]}))
PY
  rm "$batch"
done
TOPIC="m/$DOMAIN/c/$CHANNEL/{id}"
