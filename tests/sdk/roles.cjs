// The roles API of the official SDK on all four entity types (domains, groups,
// channels, clients): available actions; create, list, view, rename, delete roles;
// add, list, remove (and remove all) actions and members; the entity's members with
// their roles. The four modules' functions are parallel, so one table (`KINDS`) adapts
// their argument orders and one walk (`walk`) drives and checks every call per type,
// with the entity's view asked for the caller's roles (`listRoles`).
"use strict";

const { assert, assertId, assertPage, assertRefused, assertStatus } = require("./lib.cjs");

const MISSING = "00000000-0000-4000-8000-000000000000";

/**
 * Per entity type: the SDK module, the word in its function names, how its calls take
 * the entity (domains: the domain id alone; the others: entity id then domain id), how
 * `Create<Kind>Role` orders its arguments, an action only this type's roles have, how
 * to make one entity of the type in the context's domain, and its view with
 * `listRoles` (`?roles=true`).
 */
const KINDS = [
  {
    module: "Domains", kind: "Domain", own: "client_create",
    scope: (ctx, id) => [id],
    available: (sdk, ctx) => sdk.Domains.ListDomainActions(ctx.token),
    create: (sdk, ctx, id, name, actions, members) =>
      sdk.Domains.CreateDomainRole(id, name, ctx.token, actions, members),
    entity: async (ctx) => ctx.domain,
    view: (sdk, ctx, id) => sdk.Domains.Domain(id, ctx.token, true),
  },
  {
    module: "Groups", kind: "Group", own: "subgroup_create",
    scope: (ctx, id) => [id, ctx.domain],
    available: (sdk, ctx) => sdk.Groups.ListGroupActions(ctx.domain, ctx.token),
    create: (sdk, ctx, id, name, actions, members) =>
      sdk.Groups.CreateGroupRole(id, ctx.domain, name, ctx.token, actions, members),
    entity: async ({ sdk, token, domain }) => (await sdk.Groups.CreateGroup({ name: "hall" }, domain, token)).id,
    view: (sdk, ctx, id) => sdk.Groups.Group(id, ctx.domain, ctx.token, true),
  },
  {
    module: "Channels", kind: "Channel", own: "publish",
    scope: (ctx, id) => [id, ctx.domain],
    available: (sdk, ctx) => sdk.Channels.ListChannelActions(ctx.domain, ctx.token),
    create: (sdk, ctx, id, name, actions, members) =>
      sdk.Channels.CreateChannelRole(id, name, ctx.domain, ctx.token, actions, members),
    entity: async ({ sdk, token, domain }) => (await sdk.Channels.CreateChannel({ name: "telemetry" }, domain, token)).id,
    view: (sdk, ctx, id) => sdk.Channels.Channel(id, ctx.domain, ctx.token, true),
  },
  {
    module: "Clients", kind: "Client", own: "connect_to_channel",
    scope: (ctx, id) => [id, ctx.domain],
    available: (sdk, ctx) => sdk.Clients.ListClientActions(ctx.domain, ctx.token),
    create: (sdk, ctx, id, name, actions, members) =>
      sdk.Clients.CreateClientRole(id, name, ctx.domain, ctx.token, actions, members),
    entity: async ({ sdk, token, domain }) => (await sdk.Clients.CreateClient({ name: "meter" }, domain, token)).id,
    view: (sdk, ctx, id) => sdk.Clients.Client(id, ctx.domain, ctx.token, true),
  },
];

/** The calls every type has under the same name pattern (`<Verb><Kind><Rest>`). */
const PARALLEL = [
  ["List", "Actions"], ["Create", "Role"], ["List", "Roles"], ["View", "Role"], ["Update", "Role"],
  ["Delete", "Role"], ["Add", "RoleActions"], ["List", "RoleActions"], ["Delete", "RoleActions"],
  ["DeleteAll", "RoleActions"], ["Add", "RoleMembers"], ["List", "RoleMembers"],
  ["Delete", "RoleMembers"], ["DeleteAll", "RoleMembers"], ["List", "Members"],
];

const calls = KINDS.flatMap(({ module, kind }) =>
  PARALLEL.map(([verb, rest]) => `${module}.${verb}${kind}${rest}`));

/**
 * The role calls of one type on one entity, every one with the SDK's own argument
 * order: `call("ViewRole", roleId)` is `sdk.<Module>.View<Kind>Role(...scope, roleId, token)`.
 */
function rolesOf(ctx, k, entityId) {
  const call = (name, ...args) => {
    const fn = name.replace(/^(DeleteAll|Delete|Add|List|View|Update)/, `$1${k.kind}`);
    return ctx.sdk[k.module][fn](...k.scope(ctx, entityId), ...args, ctx.token);
  };
  return {
    available: () => k.available(ctx.sdk, ctx),
    create: (name, actions, members) => k.create(ctx.sdk, ctx, entityId, name, actions, members),
    list: (query) => call("ListRoles", query),
    view: (role) => call("ViewRole", role),
    update: (role, body) => call("UpdateRole", role, body),
    remove: (role) => call("DeleteRole", role),
    addActions: (role, actions) => call("AddRoleActions", role, actions),
    listActions: (role) => call("ListRoleActions", role),
    removeActions: (role, actions) => call("DeleteRoleActions", role, actions),
    removeAllActions: (role) => call("DeleteAllRoleActions", role),
    addMembers: (role, members) => call("AddRoleMembers", role, members),
    listMembers: (role, query) => call("ListRoleMembers", role, query),
    removeMembers: (role, members) => call("DeleteRoleMembers", role, members),
    removeAllMembers: (role) => call("DeleteAllRoleMembers", role),
    members: (query) => call("ListMembers", query),
  };
}

/** A role as SuperMQ renders it: id, name, the entity, who made it and when. */
function assertRole(role, { id, name, entity, by }, what) {
  if (id) assert.equal(role.id, id, what);
  else assertId(role.id, `${what}.id`);
  assert.equal(role.name, name, `${what}: ${JSON.stringify(role)}`);
  assert.equal(role.entity_id, entity, `${what}.entity_id`);
  assert.equal(role.created_by, by, `${what}.created_by`);
  assert.ok(!Number.isNaN(Date.parse(role.created_at)), `${what}.created_at: ${role.created_at}`);
}

/** The available actions: an array with the common ones and this type's own. */
async function checkAvailable(roles, k) {
  const actions = await roles.available();
  assert.ok(Array.isArray(actions), `${k.kind} actions: ${JSON.stringify(actions)}`);
  for (const a of ["read", "update", "delete", "manage_role", k.own]) {
    assert.ok(actions.includes(a), `${k.kind} actions lack ${a}: ${actions}`);
  }
}

/** Create (with actions and a member), refusals, list, view, rename. */
async function checkRoleCrud(roles, k, entity, ctx, erin) {
  const created = await roles.create("ops", ["read"], [erin]);
  assertRole(created, { name: "ops", entity, by: ctx.admin.id }, `Create${k.kind}Role`);
  assert.deepEqual(created.optional_actions, ["read"]);
  assert.deepEqual(created.optional_members, [erin]);
  await assertRefused(roles.create("ops", [], []), 409, `${k.kind}: duplicate role name`);
  await assertRefused(roles.create("pilots", ["fly"], []), 400, `${k.kind}: unknown action`);

  const page = await roles.list({ offset: 0, limit: 10 });
  assertPage(page, "roles", undefined, `List${k.kind}Roles`);
  assert.equal(page.offset, 0);
  assert.equal(page.limit, 10);
  const listed = page.roles.find((r) => r.id === created.id);
  assertRole(listed, { id: created.id, name: "ops", entity, by: ctx.admin.id }, `List${k.kind}Roles`);
  assert.equal(page.total, page.roles.length, `${k.kind}: one page holds them all`);

  assertRole(await roles.view(created.id), { id: created.id, name: "ops", entity, by: ctx.admin.id }, `View${k.kind}Role`);
  await assertRefused(roles.view(MISSING), 404, `${k.kind}: missing role`);
  const renamed = await roles.update(created.id, { name: "operators" });
  assertRole(renamed, { id: created.id, name: "operators", entity, by: ctx.admin.id }, `Update${k.kind}Role`);
  assert.equal(renamed.updated_by, ctx.admin.id);
  assert.ok(!Number.isNaN(Date.parse(renamed.updated_at)), `updated_at: ${renamed.updated_at}`);
  assert.equal((await roles.view(created.id)).name, "operators");
  return created.id;
}

/** Add, list, remove and remove all actions; the members list shows them meanwhile. */
async function checkActions(roles, k, role, erin) {
  assert.deepEqual(await roles.addActions(role, ["update", "delete"]), ["update", "delete"]);
  assert.deepEqual((await roles.listActions(role)).sort(), ["delete", "read", "update"]);
  await assertRefused(roles.addActions(role, ["fly"]), 400, `${k.kind}: unknown action`);

  const everyone = await roles.members({ offset: 0, limit: 10 });
  assertPage(everyone, "members", undefined, `List${k.kind}Members`);
  const theirs = everyone.members.find((m) => m.member_id === erin);
  assert.ok(theirs, `List${k.kind}Members lacks the role's member: ${JSON.stringify(everyone)}`);
  const held = theirs.roles.find((r) => r.role_id === role);
  assert.equal(held?.role_name, "operators", JSON.stringify(theirs));
  assert.deepEqual([...held.actions].sort(), ["delete", "read", "update"]);
  // SuperMQ's member filters (the SDK's `MembersRolePageQuery`): by role, by actions.
  const named = await roles.members({ offset: 0, limit: 10, role_name: "operators" });
  assert.deepEqual(named.members.map((m) => m.member_id), [erin], JSON.stringify(named));
  assert.equal(named.total, 1);
  const wanted = ["delete", "update"];
  const acting = await roles.members({ offset: 0, limit: 10, actions: wanted });
  assert.ok(acting.members.some((m) => m.member_id === erin), JSON.stringify(acting));
  for (const m of acting.members) {
    assert.ok(m.roles.some((r) => wanted.every((a) => r.actions.includes(a))), JSON.stringify(m));
  }

  assertStatus(await roles.removeActions(role, ["delete"]), 204, `Delete${k.kind}RoleActions`);
  assert.deepEqual((await roles.listActions(role)).sort(), ["read", "update"]);
  assertStatus(await roles.removeAllActions(role), 204, `DeleteAll${k.kind}RoleActions`);
  assert.deepEqual(await roles.listActions(role), []);
}

/** Remove, add, list and remove all members. */
async function checkMembers(roles, k, role, erin) {
  const page = await roles.listMembers(role, { offset: 0, limit: 10 });
  assert.deepEqual(page.members, [erin], JSON.stringify(page));
  assert.equal(page.total, 1);
  assert.equal(page.limit, 10);
  assertStatus(await roles.removeMembers(role, [erin]), 204, `Delete${k.kind}RoleMembers`);
  assert.equal((await roles.listMembers(role, { offset: 0, limit: 10 })).total, 0);
  assert.deepEqual(await roles.addMembers(role, [erin]), [erin]);
  assert.deepEqual((await roles.listMembers(role, { offset: 0, limit: 10 })).members, [erin]);
  assertStatus(await roles.removeAllMembers(role), 204, `DeleteAll${k.kind}RoleMembers`);
  const none = await roles.listMembers(role, { offset: 0, limit: 10 });
  assert.deepEqual(none.members, []);
  assert.equal(none.total, 0);
  const everyone = await roles.members({ offset: 0, limit: 10 });
  assert.ok(!everyone.members.some((m) => m.member_id === erin), JSON.stringify(everyone));
}

/**
 * The view with `listRoles`: the admin's roles reaching the entity, the domain's
 * built-in admin role (on the domain itself, or through it for the others).
 */
async function checkViewWithRoles(ctx, k, entity) {
  const viewed = await k.view(ctx.sdk, ctx, entity);
  assert.equal(viewed.id, entity);
  const admin = (viewed.roles || []).find((r) => r.role_name === "admin");
  assert.ok(admin, `${k.kind}(listRoles): ${JSON.stringify(viewed)}`);
  assert.equal(admin.access_type, k.kind === "Domain" ? "direct" : "domain");
  assert.ok(admin.actions.includes(k.kind === "Domain" ? "read" : `${k.kind.toLowerCase()}_read`), JSON.stringify(admin));
}

/** Every call on one type; Erin (a user outside the domain so far) is the member. */
async function walk(ctx, k, erin) {
  const entity = await k.entity(ctx);
  const roles = rolesOf(ctx, k, entity);
  await checkAvailable(roles, k);
  await checkViewWithRoles(ctx, k, entity);
  const role = await checkRoleCrud(roles, k, entity, ctx, erin);
  await checkActions(roles, k, role, erin);
  await checkMembers(roles, k, role, erin);
  if (k.kind === "Domain") {
    // Erin stays in the domain: roles on its groups, channels and clients need that.
    await roles.addMembers(role, [erin]);
    return role;
  }
  assertStatus(await roles.remove(role), 204, `Delete${k.kind}Role`);
  await assertRefused(roles.view(role), 404, `${k.kind}: deleted role`);
  return role;
}

/** A user of no domain yet. */
async function newUser({ sdk, token, unique }) {
  const name = `erin-${unique()}`;
  const credentials = { username: name, secret: "erin-password-123" };
  return sdk.Users.Create({ first_name: "Erin", last_name: "Role", email: `${name}@example.com`, credentials }, token);
}

async function run(ctx) {
  const erin = (await newUser(ctx)).id;
  const domainRole = await walk(ctx, KINDS[0], erin);
  for (const k of KINDS.slice(1)) {
    await walk(ctx, k, erin);
    // A role id of another entity is not this entity's: 404 like a missing one.
    const other = rolesOf(ctx, k, await k.entity(ctx));
    await assertRefused(other.view(domainRole), 404, `${k.kind}: the domain's role id`);
  }
}

module.exports = { calls, run };
