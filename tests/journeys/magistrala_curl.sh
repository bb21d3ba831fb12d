#!/usr/bin/env bash
# Magistrala's own curl examples from the SuperMQ-era docs (github absmach/supermq at
# 67c28ff13, 2025-12-31: users/README.md, domains/README.md, clients/README.md,
# channels/README.md), pasted unchanged but for the placeholders: the service address
# (http://localhost:900x) is $H, `<your_access_token>` is $ACCESS_TOKEN, `<domainID>`
# and the other ids are the variables set from earlier answers. Lines marked "setup"
# are ours. Each answer is checked with jq; each step prints "STEP <name> ok".
# tests/magistrala_curl.rs runs this against the binary with --allow-self-register.
#
#   H=http://127.0.0.1:9000 MAGNETITE_ADMIN_EMAIL=... MAGNETITE_ADMIN_PASSWORD=... \
#     bash tests/journeys/magistrala_curl.sh
set -euo pipefail
: "${H:?the API address, e.g. http://127.0.0.1:9000}"

# check <step> <jq condition> <answer>: the answer is JSON that satisfies the condition.
check() {
  if ! jq -e "$2" >/dev/null <<<"$3"; then
    echo "STEP $1 FAILED: $2 on: $3" >&2
    exit 1
  fi
  echo "STEP $1 ok"
}

# setup: the platform admin's token (listing users is for admins).
ADMIN_TOKEN=$(curl -sS -X POST "$H/users/tokens/issue" -H "Content-Type: application/json" \
  -d "{\"username\": \"$MAGNETITE_ADMIN_EMAIL\", \"password\": \"$MAGNETITE_ADMIN_PASSWORD\"}" | jq -r .access_token)

### users/README.md

# Register a user (self-registration)
ADA=$(
curl -X POST "$H/users" \
  -H "Content-Type: application/json" \
  -d '{
    "first_name": "Ada",
    "last_name": "Lovelace",
    "credentials": { "username": "ada", "secret": "changeMe123" },
    "email": "ada@example.com",
    "role": 0,
    "status": 0,
    "tags": ["iot", "beta"],
    "metadata": { "team": "core" }
  }'
)
check register '.first_name == "Ada" and .email == "ada@example.com" and .credentials.username == "ada" and .tags == ["iot","beta"] and .metadata.team == "core"' "$ADA"
USER_ID=$(jq -r .id <<<"$ADA")

# Issue access/refresh tokens (login)
TOKENS=$(
curl -X POST "$H/users/tokens/issue" \
  -H "Content-Type: application/json" \
  -d '{ "identity": "ada@example.com", "secret": "changeMe123" }'
)
check login '.access_token and .refresh_token and .access_type == "Bearer"' "$TOKENS"
ACCESS_TOKEN=$(jq -r .access_token <<<"$TOKENS")

# View authenticated profile
PROFILE=$(
curl -X GET "$H/users/profile" \
  -H "Authorization: Bearer $ACCESS_TOKEN"
)
check profile ".id == \"$USER_ID\" and .last_name == \"Lovelace\"" "$PROFILE"

# List users (as the admin)
ACCESS_TOKEN=$ADMIN_TOKEN
USERS=$(
curl -X GET "$H/users?limit=5&status=enabled&dir=desc" \
  -H "Authorization: Bearer $ACCESS_TOKEN"
)
check list-users ".limit == 5 and .total >= 2 and ([.users[].id] | index(\"$USER_ID\") != null)" "$USERS"
ACCESS_TOKEN=$(jq -r .access_token <<<"$TOKENS")

# Update user metadata and name
UPDATED=$(
curl -X PATCH "$H/users/${USER_ID}" \
  -H "Authorization: Bearer $ACCESS_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "first_name": "Ada",
    "last_name": "Byron",
    "metadata": { "team": "edge" },
    "tags": ["edge", "beta"]
  }'
)
check update-user '.last_name == "Byron" and .metadata.team == "edge"' "$UPDATED"

# Request password reset
RESET=$(
curl -X POST "$H/password/reset-request" \
  -H "Content-Type: application/json" \
  -d '{ "email": "ada@example.com" }'
)
check reset-request '.msg == "Email with reset link is sent"' "$RESET"

# Health check
HEALTH=$(
curl -X GET "$H/health"
)
check users-health '.status == "pass"' "$HEALTH"

### domains/README.md

DOMAIN=$(
curl -X POST $H/domains \
  -H "Authorization: Bearer $ACCESS_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "Edge Tenant",
    "route": "edge",
    "tags": ["iot", "prod"],
    "metadata": { "region": "eu-west-1" }
  }'
)
check create-domain '.name == "Edge Tenant" and .route == "edge"' "$DOMAIN"
DOMAIN_ID=$(jq -r .id <<<"$DOMAIN")

### clients/README.md

# Create a Client
CLIENT=$(
curl -X POST $H/$DOMAIN_ID/clients \
  -H "Authorization: Bearer $ACCESS_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
  "name": "clientName",
  "tags": [
    "tag1",
    "tag2"
  ],
  "credentials": {
    "identity": "clientIDentity",
    "secret": "bb7edb32-2eac-4aad-aebe-ed96fe073879"
  },
  "metadata": {
    "model": "example"
  },
  "status": "enabled"
}'
)
check create-client '.name == "clientName" and .credentials.secret == "bb7edb32-2eac-4aad-aebe-ed96fe073879" and .status == "enabled"' "$CLIENT"
CLIENT_ID=$(jq -r .id <<<"$CLIENT")

# List all clients
CLIENTS=$(
curl -X GET "$H/$DOMAIN_ID/clients?limit=10" \
  -H "Authorization: Bearer $ACCESS_TOKEN"
)
check list-clients ".total == 1 and .clients[0].id == \"$CLIENT_ID\"" "$CLIENTS"

# List a singular client
VIEWED=$(
curl -X GET $H/$DOMAIN_ID/clients/$CLIENT_ID \
  -H "Authorization: Bearer $ACCESS_TOKEN"
)
check view-client ".id == \"$CLIENT_ID\" and .metadata.model == \"example\"" "$VIEWED"

# Update a Client
RENAMED=$(
curl -X PATCH $H/$DOMAIN_ID/clients/$CLIENT_ID \
  -H "Authorization: Bearer $ACCESS_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "clientName",
    "metadata": {"role": "general"}
  }'
)
check update-client '.metadata == {"role": "general"}' "$RENAMED"

# Disable a Client, Enable a Client
DISABLED=$(
curl -X POST $H/$DOMAIN_ID/clients/$CLIENT_ID/disable \
  -H "Authorization: Bearer $ACCESS_TOKEN"
)
check disable-client '.status == "disabled"' "$DISABLED"
ENABLED=$(
curl -X POST $H/$DOMAIN_ID/clients/$CLIENT_ID/enable \
  -H "Authorization: Bearer $ACCESS_TOKEN"
)
check enable-client '.status == "enabled"' "$ENABLED"

# Health Check Request
HEALTH=$(
curl -X 'GET' \
  "$H/health" \
  -H 'accept: application/health+json'
)
check clients-health '.status == "pass"' "$HEALTH"

### channels/README.md

# Create a Channel
CHANNEL=$(
curl -X POST $H/$DOMAIN_ID/channels \
  -H "Authorization: Bearer $ACCESS_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "myChannel",
    "metadata": { "location": "lab" },
    "route": "sensor-data",
    "tags": ["sensor","edge"],
    "status": "enabled"
  }'
)
check create-channel '.name == "myChannel" and .route == "sensor-data"' "$CHANNEL"
CHAN_ID1=$(jq -r .id <<<"$CHANNEL")

# setup: a second client and channel for the connect example.
CLIENT_ID2=$(curl -sS -X POST "$H/$DOMAIN_ID/clients" -H "Authorization: Bearer $ACCESS_TOKEN" \
  -H "Content-Type: application/json" -d '{"name": "listener", "credentials": {"secret": "listener-secret-0001"}}' | jq -r .id)
CHAN_ID2=$(curl -sS -X POST "$H/$DOMAIN_ID/channels" -H "Authorization: Bearer $ACCESS_TOKEN" \
  -H "Content-Type: application/json" -d '{"name": "otherChannel"}' | jq -r .id)

# Connect Clients & Channels
CONNECTED=$(
curl -X POST $H/$DOMAIN_ID/channels/connect \
  -H "Authorization: Bearer $ACCESS_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "channel_ids": ["'$CHAN_ID1'", "'$CHAN_ID2'"],
    "client_ids": ["'$CLIENT_ID'", "'$CLIENT_ID2'"],
    "types": ["publish", "subscribe"]
  }'
)
check connect '.message == null' "${CONNECTED:-null}"
ON_CHANNEL=$(curl -sS "$H/$DOMAIN_ID/clients?channel=$CHAN_ID1&connection_type=Publish" -H "Authorization: Bearer $ACCESS_TOKEN")
check connected ".total == 2" "$ON_CHANNEL"

# Disconnect Clients from a Channel
DISCONNECTED=$(
curl -X POST $H/$DOMAIN_ID/channels/disconnect \
  -H "Authorization: Bearer $ACCESS_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "channel_ids": ["'$CHAN_ID2'"],
    "client_ids": ["'$CLIENT_ID2'"],
    "types": ["publish"]
  }'
)
check disconnect '.message == null' "${DISCONNECTED:-null}"
ON_CHANNEL=$(curl -sS "$H/$DOMAIN_ID/clients?channel=$CHAN_ID2&connection_type=Publish" -H "Authorization: Bearer $ACCESS_TOKEN")
check disconnected ".total == 1 and .clients[0].id == \"$CLIENT_ID\"" "$ON_CHANNEL"

# Health Check Request
HEALTH=$(
curl -X GET $H/health \
  -H "accept: application/health+json"
)
check channels-health '.status == "pass"' "$HEALTH"

# For the HTTP publish example (magistrala_curl_http.sh): where it publishes.
cat > journey.env <<ENV
DOMAIN_ID=$DOMAIN_ID
CHANNEL_ID=$CHAN_ID1
CLIENT_ID=$CLIENT_ID
CLIENT_SECRET=bb7edb32-2eac-4aad-aebe-ed96fe073879
LISTENER_ID=$CLIENT_ID2
LISTENER_SECRET=listener-secret-0001
ENV

### clients/README.md: Delete a Client (last: the publish example needs it)
if [ "${KEEP_CLIENT:-}" != 1 ]; then
DELETED=$(
curl -X DELETE $H/$DOMAIN_ID/clients/$CLIENT_ID \
  -H "Authorization: Bearer $ACCESS_TOKEN"
)
check delete-client '.message == null' "${DELETED:-null}"
GONE=$(curl -sS "$H/$DOMAIN_ID/clients/$CLIENT_ID" -H "Authorization: Bearer $ACCESS_TOKEN")
check deleted '.message' "$GONE"
fi
