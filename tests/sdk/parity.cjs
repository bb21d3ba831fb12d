// Drives the official Magistrala SDK (npm @absmach/magistrala-sdk 0.17) against a
// running magnetite: list filters, health, certificates by client. Every SDK service
// URL is the one HTTP address. Fails (exit 1) on the first wrong shape.
//
//   MAGNETITE_URL=http://127.0.0.1:9000 ADMIN_EMAIL=... ADMIN_PASSWORD=... \
//   NODE_PATH=<dir with node_modules> node tests/sdk/parity.cjs
"use strict";

const SDK = require("@absmach/magistrala-sdk").default;
const assert = require("node:assert/strict");

const url = process.env.MAGNETITE_URL;
const services = ["users", "clients", "channels", "domains", "groups", "certs", "bootstrap"];
const sdk = new SDK(Object.fromEntries(services.map((s) => [`${s}Url`, url])));

const ids = (page, key) => page[key].map((e) => e.id).sort();

async function main() {
  const login = { username: process.env.ADMIN_EMAIL, password: process.env.ADMIN_PASSWORD };
  const token = (await sdk.Users.CreateToken(login)).access_token;
  const suffix = Date.now().toString(36);

  const health = await sdk.Health.Health("users");
  for (const key of ["status", "version", "commit", "description", "build_time", "instance_id"]) {
    assert.ok(health[key], `health.${key}: ${JSON.stringify(health)}`);
  }

  const users = await sdk.Users.Users({ username: "admin", offset: 0, limit: 10 }, token);
  assert.ok(users.users.every((u) => u.credentials.username.includes("admin")), JSON.stringify(users));

  const domain = await sdk.Domains.CreateDomain({ name: "sdk", route: `sdk-${suffix}` }, token);
  const d = domain.id;
  const meter = await sdk.Clients.CreateClient({ name: "meter" }, d, token);
  const spare = await sdk.Clients.CreateClient({ name: "spare" }, d, token);
  const channel = await sdk.Channels.CreateChannel({ name: "telemetry" }, d, token);
  await sdk.Channels.Connect([meter.id], [channel.id], ["publish"], d, token);

  const connected = await sdk.Clients.Clients({ channel: channel.id, offset: 0, limit: 10 }, d, token);
  assert.deepEqual(ids(connected, "clients"), [meter.id]);
  const all = await sdk.Clients.Clients({ offset: 0, limit: 10 }, d, token);
  assert.deepEqual(ids(all, "clients"), [meter.id, spare.id].sort());
  const channels = await sdk.Channels.Channels({ client: meter.id, offset: 0, limit: 10 }, d, token);
  assert.deepEqual(ids(channels, "channels"), [channel.id]);

  await assert.rejects(
    sdk.Clients.Clients({ chanel: channel.id, offset: 0, limit: 10 }, d, token),
    (e) => e.status === 400 || /unknown query parameter/.test(JSON.stringify(e)),
  );

  const cert = await sdk.Certs.IssueCert(meter.id, "24h", d, token);
  assert.ok(cert.expiry_time && cert.serial_number, JSON.stringify(cert));
  const serials = await sdk.Certs.ViewCertByClient(meter.id, d, token);
  assert.equal(serials.total, 1);
  assert.equal(serials.certs[0].serial_number, cert.serial_number);
  console.log("SDK parity: ok");
}

main().catch((e) => {
  console.error("SDK parity failed:", e);
  process.exit(1);
});
