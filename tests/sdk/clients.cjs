// Clients module of the official SDK (the calls outside the roles API).
"use strict";

const { assert, assertId, assertPage, assertRefused, assertStatus } = require("./lib.cjs");

const calls = [
  "Clients.CreateClient", "Clients.CreateClients", "Clients.Enable", "Clients.Disable",
  "Clients.UpdateClient", "Clients.UpdateClientSecret", "Clients.UpdateClientTags",
  "Clients.Client", "Clients.Clients", "Clients.setClientParentGroup",
  "Clients.DeleteClientParentGroup", "Clients.DeleteClient",
];

async function create({ sdk, token, domain }) {
  const meter = await sdk.Clients.CreateClient({ name: "meter", tags: ["hall"], metadata: { floor: 1 } }, domain, token);
  assertId(meter.id, "CreateClient.id");
  assert.equal(meter.name, "meter");
  assert.equal(meter.domain_id, domain);
  assert.deepEqual(meter.tags, ["hall"]);
  assert.deepEqual(meter.metadata, { floor: 1 });
  assert.equal(meter.status, "enabled");
  assert.ok(meter.credentials.secret.length >= 16, "a generated secret, shown once");
  const own = await sdk.Clients.CreateClient({ name: "own", credentials: { secret: "own-secret-123456" } }, domain, token);
  assert.equal(own.credentials.secret, "own-secret-123456");

  const bulk = await sdk.Clients.CreateClients([{ name: "bulk-a" }, { name: "bulk-b" }], domain, token);
  assert.equal(bulk.total, 2, JSON.stringify(bulk));
  assert.deepEqual(bulk.clients.map((c) => c.name).sort(), ["bulk-a", "bulk-b"]);
  bulk.clients.forEach((c) => assertId(c.id, "CreateClients.id"));
  return { meter, own, bulk: bulk.clients };
}

async function view({ sdk, token, domain }, { meter, own, bulk }) {
  const viewed = await sdk.Clients.Client(meter.id, domain, token);
  assert.equal(viewed.id, meter.id);
  assert.equal(viewed.credentials?.secret, undefined, "the secret is never shown again");
  const all = await sdk.Clients.Clients({ offset: 0, limit: 10 }, domain, token);
  assertPage(all, "clients", [meter.id, own.id, ...bulk.map((c) => c.id)], "Clients");
  assert.equal(all.offset, 0);
  assert.equal(all.limit, 10);
  const named = await sdk.Clients.Clients({ offset: 0, limit: 10, name: "bulk" }, domain, token);
  assertPage(named, "clients", bulk.map((c) => c.id), "Clients(name)");
  await assertRefused(sdk.Clients.Client("00000000-0000-4000-8000-000000000000", domain, token), 404, "missing client");
}

async function update({ sdk, token, domain }, { meter }) {
  const updated = await sdk.Clients.UpdateClient({ id: meter.id, name: "meter-2", metadata: { floor: 2 } }, domain, token);
  assert.equal(updated.name, "meter-2");
  assert.deepEqual(updated.metadata, { floor: 2 });
  const tagged = await sdk.Clients.UpdateClientTags({ id: meter.id, tags: ["hall", "roof"] }, domain, token);
  assert.deepEqual(tagged.tags, ["hall", "roof"]);
  const secret = await sdk.Clients.UpdateClientSecret({ id: meter.id, credentials: { secret: "new-meter-secret-1" } }, domain, token);
  assert.equal(secret.id, meter.id);

  const disabled = await sdk.Clients.Disable(meter.id, domain, token);
  assert.equal(disabled.status, "disabled");
  const enabled = await sdk.Clients.Enable(meter.id, domain, token);
  assert.equal(enabled.status, "enabled");
}

async function parent({ sdk, token, domain }, { meter }) {
  const group = await sdk.Groups.CreateGroup({ name: "hall" }, domain, token);
  const set = await sdk.Clients.setClientParentGroup(domain, meter.id, group.id, token);
  assert.ok(set.status < 300, JSON.stringify(set));
  assert.equal((await sdk.Clients.Client(meter.id, domain, token)).parent_group_id, group.id);
  const inGroup = await sdk.Clients.Clients({ offset: 0, limit: 10, group: group.id }, domain, token);
  assertPage(inGroup, "clients", [meter.id], "Clients(group)");
  const unset = await sdk.Clients.DeleteClientParentGroup(domain, meter.id, token);
  assert.ok(unset.status < 300, JSON.stringify(unset));
  assert.ok(!(await sdk.Clients.Client(meter.id, domain, token)).parent_group_id);
}

async function run(ctx) {
  const made = await create(ctx);
  await view(ctx, made);
  await update(ctx, made);
  await parent(ctx, made);
  assertStatus(await ctx.sdk.Clients.DeleteClient(made.own.id, ctx.domain, ctx.token), 204, "DeleteClient");
  await assertRefused(ctx.sdk.Clients.Client(made.own.id, ctx.domain, ctx.token), 404, "deleted client");
}

module.exports = { calls, run };
