// Domains module of the official SDK (the calls outside the roles API): create,
// view, update, list (all and a user's), enable, disable.
"use strict";

const { assert, assertId, assertPage, assertRefused, assertStatus } = require("./lib.cjs");

const calls = [
  "Domains.CreateDomain", "Domains.UpdateDomain", "Domains.Domain", "Domains.Domains",
  "Domains.ListUserDomains", "Domains.EnableDomain", "Domains.DisableDomain",
];

async function run({ sdk, token, admin, unique }) {
  const route = `plant-${unique()}`;
  const domain = await sdk.Domains.CreateDomain({ name: "plant", route, tags: ["north"], metadata: { site: 7 } }, token);
  assertId(domain.id, "CreateDomain.id");
  assert.equal(domain.name, "plant");
  assert.equal(domain.route, route);
  assert.deepEqual(domain.tags, ["north"]);
  assert.deepEqual(domain.metadata, { site: 7 });
  assert.equal(domain.status, "enabled");
  await assertRefused(sdk.Domains.CreateDomain({ name: "again", route }, token), 409, "duplicate route");

  const viewed = await sdk.Domains.Domain(domain.id, token);
  assert.equal(viewed.id, domain.id);
  assert.equal(viewed.route, route);
  const updated = await sdk.Domains.UpdateDomain({ id: domain.id, name: "plant-2", metadata: { site: 8 } }, token);
  assert.equal(updated.name, "plant-2");
  assert.deepEqual(updated.metadata, { site: 8 });

  const page = await sdk.Domains.Domains({ offset: 0, limit: 100, name: "plant-2" }, token);
  assert.ok(page.domains.some((d) => d.id === domain.id), JSON.stringify(page));
  assertPage(page, "domains", undefined, "Domains");
  const mine = await sdk.Domains.ListUserDomains(admin.id, { offset: 0, limit: 100 }, token);
  assertPage(mine, "domains", undefined, "ListUserDomains");
  assert.ok(mine.domains.some((d) => d.id === domain.id), JSON.stringify(mine));

  assertStatus(await sdk.Domains.DisableDomain(domain.id, token), 200, "DisableDomain");
  assert.equal((await sdk.Domains.Domain(domain.id, token)).status, "disabled");
  assertStatus(await sdk.Domains.EnableDomain(domain.id, token), 200, "EnableDomain");
  assert.equal((await sdk.Domains.Domain(domain.id, token)).status, "enabled");
  await assertRefused(sdk.Domains.Domain("00000000-0000-4000-8000-000000000000", token), 404, "missing domain");
}

module.exports = { calls, run };
