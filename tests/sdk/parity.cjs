// SuperMQ parity details through the official SDK: list filters narrow, unknown query
// parameters are refused, certificates list by client.
"use strict";

const { assert, assertRefused, ids } = require("./lib.cjs");

const calls = [];

async function run({ sdk, token, domain }) {
  const users = await sdk.Users.Users({ username: "admin", offset: 0, limit: 10 }, token);
  assert.ok(users.users.every((u) => u.credentials.username.includes("admin")), JSON.stringify(users));

  const meter = await sdk.Clients.CreateClient({ name: "meter" }, domain, token);
  const spare = await sdk.Clients.CreateClient({ name: "spare" }, domain, token);
  const channel = await sdk.Channels.CreateChannel({ name: "telemetry" }, domain, token);
  await sdk.Channels.Connect([meter.id], [channel.id], ["publish"], domain, token);

  const connected = await sdk.Clients.Clients({ channel: channel.id, offset: 0, limit: 10 }, domain, token);
  assert.deepEqual(ids(connected, "clients"), [meter.id]);
  const all = await sdk.Clients.Clients({ offset: 0, limit: 10 }, domain, token);
  assert.deepEqual(ids(all, "clients"), [meter.id, spare.id].sort());
  const channels = await sdk.Channels.Channels({ client: meter.id, offset: 0, limit: 10 }, domain, token);
  assert.deepEqual(ids(channels, "channels"), [channel.id]);
  await assertRefused(sdk.Clients.Clients({ chanel: channel.id, offset: 0, limit: 10 }, domain, token), 400, "unknown parameter");

  const cert = await sdk.Certs.IssueCert(meter.id, "24h", domain, token);
  assert.ok(cert.expiry_time && cert.serial_number, JSON.stringify(cert));
  const serials = await sdk.Certs.ViewCertByClient(meter.id, domain, token);
  assert.equal(serials.total, 1);
  assert.equal(serials.certs[0].serial_number, cert.serial_number);
}

module.exports = { calls, run };
