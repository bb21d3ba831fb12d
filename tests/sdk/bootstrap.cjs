// Bootstrap module of the official SDK: configs, whitelist state, connections, certs,
// and the device side, plain and secure (AES-256-CFB under the configured key).
"use strict";

const crypto = require("node:crypto");
const { assert, assertPage, assertRefused, assertStatus } = require("./lib.cjs");

const calls = [
  "Bootstrap.AddBootstrap", "Bootstrap.Whitelist", "Bootstrap.UpdateBootstrap",
  "Bootstrap.ViewBootstrap", "Bootstrap.UpdateBootstrapCerts", "Bootstrap.DeleteBootstrap",
  "Bootstrap.Bootstrap", "Bootstrap.Bootstraps", "Bootstrap.UpdateBootstrapConnection",
  "Bootstrap.SecureBootstrap",
];

async function management({ sdk, token, domain, unique }) {
  const channel = await sdk.Channels.CreateChannel({ name: "telemetry" }, domain, token);
  const spare = await sdk.Channels.CreateChannel({ name: "spare" }, domain, token);
  const meter = await sdk.Clients.CreateClient({ name: "meter", credentials: { secret: "meter-secret-0001" } }, domain, token);
  const external = { external_id: `ext-${unique()}`, external_key: "ext-key-0123456789" };
  const config = {
    ...external, client_id: meter.id, client_secret: "meter-secret-0001", name: "meter-config",
    content: "{\"interval\":5}", channels: [channel.id],
  };
  assertStatus(await sdk.Bootstrap.AddBootstrap(config, domain, token), 201, "AddBootstrap");
  await assertRefused(sdk.Bootstrap.AddBootstrap(config, domain, token), 409, "duplicate config");

  const viewed = await sdk.Bootstrap.ViewBootstrap(meter.id, domain, token);
  assert.equal(viewed.client_id, meter.id);
  assert.equal(viewed.external_id, external.external_id);
  assert.equal(viewed.name, "meter-config");
  assert.equal(viewed.external_key, undefined, "the external key is never shown");
  assert.deepEqual(viewed.channels.map((c) => c.id), [channel.id]);
  const page = await sdk.Bootstrap.Bootstraps({ offset: 0, limit: 10 }, domain, token);
  assertPage(page, "configs", undefined, "Bootstraps");
  assert.deepEqual(page.configs.map((c) => c.client_id), [meter.id]);

  const renamed = { client_id: meter.id, name: "meter-config-2", content: "{\"interval\":9}" };
  assertStatus(await sdk.Bootstrap.UpdateBootstrap(renamed, domain, token), 200, "UpdateBootstrap");
  assert.equal((await sdk.Bootstrap.ViewBootstrap(meter.id, domain, token)).name, "meter-config-2");
  const pems = { client_id: meter.id, client_cert: "cert-pem", client_key: "key-pem", ca_cert: "ca-pem" };
  const withCerts = await sdk.Bootstrap.UpdateBootstrapCerts(pems, domain, token);
  assert.equal(withCerts.client_id, meter.id);
  assert.equal(withCerts.client_key, undefined, "the private key is never shown");
  assertStatus(await sdk.Bootstrap.UpdateBootstrapConnection(meter.id, domain, [channel.id, spare.id], token), 200, "UpdateBootstrapConnection");
  const connected = await sdk.Bootstrap.ViewBootstrap(meter.id, domain, token);
  assert.deepEqual(connected.channels.map((c) => c.id).sort(), [channel.id, spare.id].sort());
  assertStatus(await sdk.Bootstrap.Whitelist({ client_id: meter.id, state: 1 }, domain, token), 200, "Whitelist");
  assert.equal((await sdk.Bootstrap.ViewBootstrap(meter.id, domain, token)).state, 1);
  return { meter, external, channels: [channel.id, spare.id] };
}

async function device({ sdk, env, url }, { meter, external, channels }) {
  const plain = await sdk.Bootstrap.Bootstrap(external.external_id, external.external_key);
  assert.equal(plain.client_id, meter.id);
  assert.equal(plain.client_secret, "meter-secret-0001");
  assert.deepEqual(plain.channels.map((c) => c.id).sort(), [...channels].sort());
  assert.equal(plain.content, "{\"interval\":9}");
  assert.equal(plain.client_cert, "cert-pem");
  await assertRefused(sdk.Bootstrap.Bootstrap(external.external_id, "wrong-key-000000"), 403, "wrong key");

  // The SDK's SecureBootstrap encrypts the key as Magistrala does, then decrypts
  // `undefined` instead of the response (an SDK bug): a TypeError, not an HTTP error,
  // shows the server accepted its encrypted key. The response itself is checked here.
  const key = env.BOOTSTRAP_KEY;
  await assert.rejects(sdk.Bootstrap.SecureBootstrap(external.external_id, external.external_key, key),
    (e) => e instanceof TypeError && e.status === undefined);
  await assertRefused(sdk.Bootstrap.SecureBootstrap(external.external_id, "wrong-key-000000", key), 403, "secure wrong key");
  const secure = await secureFetch(url, external, key);
  assert.equal(secure.client_id, meter.id);
  assert.equal(secure.client_secret, "meter-secret-0001");
}

/** `GET /clients/bootstrap/secure/{id}` with the SDK's own key encryption, decrypted. */
async function secureFetch(url, external, key) {
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv("aes-256-cfb", Buffer.from(key), iv);
  const sealed = Buffer.concat([iv, cipher.update(Buffer.from(external.external_key))]).toString("hex");
  const response = await fetch(new URL(`clients/bootstrap/secure/${external.external_id}`, url), {
    headers: { Authorization: `Client ${sealed}` },
  });
  assert.equal(response.status, 200);
  const body = Buffer.from(await response.arrayBuffer());
  const decipher = crypto.createDecipheriv("aes-256-cfb", Buffer.from(key), body.subarray(0, 16));
  return JSON.parse(decipher.update(body.subarray(16)).toString("utf8"));
}

async function run(ctx) {
  const made = await management(ctx);
  await device(ctx, made);
  assertStatus(await ctx.sdk.Bootstrap.DeleteBootstrap(made.meter.id, ctx.domain, ctx.token), 204, "DeleteBootstrap");
  await assertRefused(ctx.sdk.Bootstrap.ViewBootstrap(made.meter.id, ctx.domain, ctx.token), 404, "deleted config");
}

module.exports = { calls, run };
