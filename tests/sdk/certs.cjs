// Certs module of the official SDK: issue, list by client, view, revoke.
"use strict";

const { assert, assertPage, assertRefused, assertStatus } = require("./lib.cjs");

const calls = ["Certs.IssueCert", "Certs.ViewCertByClient", "Certs.ViewCert", "Certs.RevokeCert"];

async function run({ sdk, token, domain }) {
  const meter = await sdk.Clients.CreateClient({ name: "meter" }, domain, token);
  const cert = await sdk.Certs.IssueCert(meter.id, "24h", domain, token);
  assert.match(cert.serial_number, /^[0-9a-f:]+$/i, JSON.stringify(cert));
  assert.equal(cert.client_id, meter.id);
  assert.match(cert.certificate, /-----BEGIN CERTIFICATE-----/);
  assert.match(cert.key, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, "the key once, at issue");
  const expiry = Date.parse(cert.expiry_time);
  assert.ok(expiry > Date.now() + 23 * 3600e3 && expiry < Date.now() + 25 * 3600e3, cert.expiry_time);

  const page = await sdk.Certs.ViewCertByClient(meter.id, domain, token);
  assertPage(page, "certs", undefined, "ViewCertByClient");
  assert.equal(page.total, 1);
  assert.equal(page.certs[0].serial_number, cert.serial_number);
  assert.equal(page.certs[0].key, undefined, "a listing never shows a key");

  const viewed = await sdk.Certs.ViewCert(cert.serial_number, domain, token);
  assert.equal(viewed.serial_number, cert.serial_number);
  assert.equal(viewed.client_id, meter.id);
  assert.equal(viewed.key, undefined, "a view never shows a key");
  assert.equal(viewed.revoked, false, JSON.stringify(viewed));

  const revoked = await sdk.Certs.RevokeCert(cert.serial_number, domain, token);
  assert.ok(revoked.status < 300, JSON.stringify(revoked));
  assert.equal((await sdk.Certs.ViewCert(cert.serial_number, domain, token)).revoked, true);
  await assertRefused(sdk.Certs.IssueCert("00000000-0000-4000-8000-000000000000", "24h", domain, token), 404, "missing client");
}

module.exports = { calls, run };
