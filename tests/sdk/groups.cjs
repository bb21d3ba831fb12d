// Groups module of the official SDK (the calls outside the roles API; the hierarchy
// view is in parity_routes.cjs).
"use strict";

const { assert, assertId, assertPage, assertRefused, assertStatus } = require("./lib.cjs");

const calls = [
  "Groups.CreateGroup", "Groups.Group", "Groups.Groups", "Groups.UpdateGroup",
  "Groups.UpdateGroupTags", "Groups.EnableGroup", "Groups.DisableGroup", "Groups.DeleteGroup",
  "Groups.AddParentGroup", "Groups.RemoveParentGroup", "Groups.AddChildrenGroups",
  "Groups.RemoveChildrenGroups", "Groups.RemoveAllChildrenGroups", "Groups.ListChildrenGroups",
];

const page = { offset: 0, limit: 10 };

async function create({ sdk, token, domain }) {
  const hall = await sdk.Groups.CreateGroup({ name: "hall", description: "the hall", metadata: { area: 40 } }, domain, token);
  assertId(hall.id, "CreateGroup.id");
  assert.equal(hall.name, "hall");
  assert.equal(hall.description, "the hall");
  assert.deepEqual(hall.metadata, { area: 40 });
  assert.equal(hall.domain_id, domain);
  assert.equal(hall.status, "enabled");
  const room = await sdk.Groups.CreateGroup({ name: "room", parent_id: hall.id }, domain, token);
  assert.equal(room.parent_id, hall.id);
  const desk = await sdk.Groups.CreateGroup({ name: "desk" }, domain, token);
  assert.equal((await sdk.Groups.Group(room.id, domain, token)).parent_id, hall.id);
  assertPage(await sdk.Groups.Groups(page, domain, token), "groups", [hall.id, room.id, desk.id], "Groups");
  return { hall, room, desk };
}

async function update({ sdk, token, domain }, { hall }) {
  const updated = await sdk.Groups.UpdateGroup({ id: hall.id, name: "hall-2", description: "d2", metadata: { area: 41 } }, domain, token);
  assert.equal(updated.name, "hall-2");
  assert.equal(updated.description, "d2");
  assert.deepEqual(updated.metadata, { area: 41 });
  const tagged = await sdk.Groups.UpdateGroupTags({ id: hall.id, tags: ["x"] }, domain, token);
  assert.deepEqual(tagged.tags, ["x"]);
  assert.equal((await sdk.Groups.DisableGroup(hall.id, domain, token)).status, "disabled");
  assert.equal((await sdk.Groups.EnableGroup(hall.id, domain, token)).status, "enabled");
}

async function hierarchy({ sdk, token, domain }, { hall, room, desk }) {
  assertPage(await sdk.Groups.ListChildrenGroups(hall.id, domain, page, token), "groups", [room.id], "children");
  assert.ok((await sdk.Groups.AddParentGroup(desk.id, domain, room.id, token)).status < 300);
  assert.equal((await sdk.Groups.Group(desk.id, domain, token)).parent_id, room.id);
  await assertRefused(sdk.Groups.AddParentGroup(hall.id, domain, desk.id, token), 409, "a cycle");
  assert.ok((await sdk.Groups.RemoveParentGroup(desk.id, domain, token)).status < 300);
  assert.ok(!(await sdk.Groups.Group(desk.id, domain, token)).parent_id);

  assert.ok((await sdk.Groups.AddChildrenGroups(hall.id, domain, [desk.id], token)).status < 300);
  assertPage(await sdk.Groups.ListChildrenGroups(hall.id, domain, page, token), "groups", [room.id, desk.id], "children");
  assert.ok((await sdk.Groups.RemoveChildrenGroups(hall.id, domain, [desk.id], token)).status < 300);
  assertPage(await sdk.Groups.ListChildrenGroups(hall.id, domain, page, token), "groups", [room.id], "children");
  assertStatus(await sdk.Groups.RemoveAllChildrenGroups(hall.id, domain, token), 204, "RemoveAllChildrenGroups");
  assertPage(await sdk.Groups.ListChildrenGroups(hall.id, domain, page, token), "groups", [], "no children");
}

async function run(ctx) {
  const made = await create(ctx);
  await update(ctx, made);
  await hierarchy(ctx, made);
  assertStatus(await ctx.sdk.Groups.DeleteGroup(made.desk.id, ctx.domain, ctx.token), 204, "DeleteGroup");
  await assertRefused(ctx.sdk.Groups.Group(made.desk.id, ctx.domain, ctx.token), 404, "deleted group");
}

module.exports = { calls, run };
