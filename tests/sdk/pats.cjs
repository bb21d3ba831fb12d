// The PATs module of the official SDK: create (the secret shown once), list, view,
// rename, describe, scopes (add, list, remove, remove all), reset the secret, revoke,
// delete, delete all; and a PAT made through the SDK used as the SDK's bearer token:
// accepted where a scope allows, refused (403) elsewhere, refused (401) once reset or
// revoked. Another user's PAT ids answer 404 like missing ones.
"use strict";

const { assert, assertId, assertPage, assertRefused, assertStatus } = require("./lib.cjs");

const calls = [
  "PATs.CreatePAT", "PATs.ListPATS", "PATs.ViewPAT", "PATs.UpdateName", "PATs.UpdateDescription",
  "PATs.AddScope", "PATs.ListScopes", "PATs.DeleteScopes", "PATs.DeleteAllScopes",
  "PATs.ResetSecret", "PATs.RevokePAT", "PATs.DeletePAT", "PATs.DeleteAllPATs",
];

const MISSING = "00000000-0000-4000-8000-000000000000";
const page = { offset: 0, limit: 10 };

/** A PAT as SuperMQ renders it; `secret` present only when `withSecret`. */
function assertPat(pat, { id, name, user, withSecret }, what) {
  if (id) assert.equal(pat.id, id, what);
  else assertId(pat.id, `${what}.id`);
  assert.equal(pat.name, name, `${what}: ${JSON.stringify(pat)}`);
  assert.equal(pat.user_id, user, `${what}.user_id`);
  for (const t of ["issued_at", "expires_at"]) {
    assert.ok(!Number.isNaN(Date.parse(pat[t])), `${what}.${t}: ${pat[t]}`);
  }
  if (withSecret) assert.match(String(pat.secret), /^pat_.{16,}/, `${what}: the secret, shown once`);
  else assert.equal(pat.secret, undefined, `${what}: the secret is never shown again`);
}

async function create({ sdk, token, admin }) {
  const pat = await sdk.PATs.CreatePAT("ci", "24h", token, "deploys from CI");
  assertPat(pat, { name: "ci", user: admin.id, withSecret: true }, "CreatePAT");
  assert.equal(pat.description, "deploys from CI");
  assert.equal(pat.status, "active");
  const hours = (Date.parse(pat.expires_at) - Date.parse(pat.issued_at)) / 3.6e6;
  assert.ok(hours > 23.9 && hours < 24.1, `24h PAT: ${pat.issued_at} .. ${pat.expires_at}`);
  await assertRefused(sdk.PATs.CreatePAT("bad", "forever", token), 400, "bad duration");
  await assertRefused(sdk.PATs.CreatePAT("", "1h", token), 400, "no name");

  const viewed = await sdk.PATs.ViewPAT(pat.id, token);
  assertPat(viewed, { id: pat.id, name: "ci", user: admin.id }, "ViewPAT");
  const spare = await sdk.PATs.CreatePAT("spare", "1h", token);
  const all = await sdk.PATs.ListPATS(page, token);
  assertPage(all, "pats", [pat.id, spare.id], "ListPATS");
  assert.equal(all.limit, 10);
  all.pats.forEach((p) => assert.equal(p.secret, undefined, "ListPATS shows no secret"));
  assertPage(await sdk.PATs.ListPATS({ ...page, name: "spare" }, token), "pats", [spare.id], "ListPATS(name)");
  assertPage(await sdk.PATs.ListPATS({ ...page, status: "revoked" }, token), "pats", [], "ListPATS(revoked)");

  const renamed = await sdk.PATs.UpdateName("ci-2", pat.id, token);
  assertPat(renamed, { id: pat.id, name: "ci-2", user: admin.id }, "UpdateName");
  const described = await sdk.PATs.UpdateDescription("nightly", pat.id, token);
  assert.equal(described.description, "nightly");
  assert.equal(described.secret, undefined);
  await assertRefused(sdk.PATs.ViewPAT(MISSING, token), 404, "missing PAT");
  return pat;
}

/** Two scopes on the context's client: view it, list the domain's clients. */
async function scopes({ sdk, token, domain }, pat, meter) {
  const added = await sdk.PATs.AddScope([
    { entity_type: "clients", domain_id: domain, operation: "view", entity_id: meter.id },
    { entity_type: "clients", domain_id: domain, operation: "list", entity_id: "*" },
  ], pat.id, token);
  assertStatus(added, 200, "AddScope");
  await assertRefused(sdk.PATs.AddScope([{ entity_type: "robots", operation: "view", entity_id: "*" }], pat.id, token), 400, "bad scope");
  const listed = await sdk.PATs.ListScopes(pat.id, page, token);
  assertPage(listed, "scopes", undefined, "ListScopes");
  assert.equal(listed.total, 2, JSON.stringify(listed));
  for (const s of listed.scopes) {
    assertId(s.id, "scope.id");
    assert.equal(s.pat_id, pat.id);
    assert.equal(s.domain_id, domain);
    assert.equal(s.entity_type, "clients");
  }
  assert.deepEqual(listed.scopes.map((s) => s.operation).sort(), ["list_clients", "view"]);
  return listed.scopes;
}

/** The PAT as the SDK's token: in scope, out of scope, and not on PAT management. */
async function asBearer({ sdk, domain }, secret, meter, spare) {
  assert.equal((await sdk.Clients.Client(meter.id, domain, secret)).id, meter.id);
  assertPage(await sdk.Clients.Clients(page, domain, secret), "clients", [meter.id, spare.id], "Clients with a PAT");
  await assertRefused(sdk.Clients.Client(spare.id, domain, secret), 403, "a client outside the scope");
  await assertRefused(sdk.Clients.UpdateClient({ id: meter.id, name: "renamed" }, domain, secret), 403, "an operation outside the scope");
  await assertRefused(sdk.Channels.Channels(page, domain, secret), 403, "an entity type outside the scope");
  await assertRefused(sdk.PATs.ListPATS(page, secret), 403, "a PAT managing PATs");
}

async function lifecycle(ctx, pat, meter, spare, listed) {
  const { sdk, token, domain, admin } = ctx;
  const view = listed.find((s) => s.operation === "view");
  assertStatus(await sdk.PATs.DeleteScopes(pat.id, [view.id], token), 200, "DeleteScopes");
  assert.equal((await sdk.PATs.ListScopes(pat.id, page, token)).total, 1);
  await assertRefused(sdk.Clients.Client(meter.id, domain, pat.secret), 403, "a removed scope");

  const reset = await sdk.PATs.ResetSecret("48h", pat.id, token);
  assertPat(reset, { id: pat.id, name: "ci-2", user: admin.id, withSecret: true }, "ResetSecret");
  assert.notEqual(reset.secret, pat.secret);
  await assertRefused(sdk.Clients.Clients(page, domain, pat.secret), 401, "the secret before the reset");
  assertPage(await sdk.Clients.Clients(page, domain, reset.secret), "clients", [meter.id, spare.id], "the new secret");

  assertStatus(await sdk.PATs.DeleteAllScopes(pat.id, token), 200, "DeleteAllScopes");
  assertPage(await sdk.PATs.ListScopes(pat.id, page, token), "scopes", [], "ListScopes after DeleteAllScopes");
  await assertRefused(sdk.Clients.Clients(page, domain, reset.secret), 403, "a PAT without scopes");

  assertStatus(await sdk.PATs.RevokePAT(pat.id, token), 204, "RevokePAT");
  const revoked = await sdk.PATs.ViewPAT(pat.id, token);
  assert.equal(revoked.revoked, true);
  assert.equal(revoked.status, "revoked");
  await assertRefused(sdk.Clients.Clients(page, domain, reset.secret), 401, "a revoked PAT");
  assertPage(await sdk.PATs.ListPATS({ ...page, status: "revoked" }, token), "pats", [pat.id], "ListPATS(revoked)");
}

/** Another user's PATs: invisible, untouchable. */
async function outsider({ sdk, token, unique }, pat) {
  const name = `mallory-${unique()}`;
  const credentials = { username: name, secret: "mallory-password-1" };
  await sdk.Users.Create({ first_name: "M", last_name: "X", email: `${name}@example.com`, credentials }, token);
  const theirs = (await sdk.Users.CreateToken({ username: name, password: credentials.secret })).access_token;
  assertPage(await sdk.PATs.ListPATS(page, theirs), "pats", [], "another user's PATs");
  await assertRefused(sdk.PATs.ViewPAT(pat.id, theirs), 404, "another user's PAT");
  await assertRefused(sdk.PATs.DeletePAT(pat.id, theirs), 404, "deleting another user's PAT");
  await assertRefused(sdk.PATs.ListScopes(pat.id, page, theirs), 404, "another user's PAT's scopes");
  await assertRefused(sdk.PATs.ListPATS(page, "not-a-token"), 401, "no valid token");
}

async function run(ctx) {
  const { sdk, token, domain } = ctx;
  const meter = await sdk.Clients.CreateClient({ name: "meter" }, domain, token);
  const spare = await sdk.Clients.CreateClient({ name: "spare" }, domain, token);
  const pat = await create(ctx);
  const listed = await scopes(ctx, pat, meter);
  await asBearer(ctx, pat.secret, meter, spare);
  await outsider(ctx, pat);
  await lifecycle(ctx, pat, meter, spare, listed);

  assertStatus(await sdk.PATs.DeletePAT(pat.id, token), 204, "DeletePAT");
  await assertRefused(sdk.PATs.ViewPAT(pat.id, token), 404, "deleted PAT");
  assertStatus(await sdk.PATs.DeleteAllPATs(token), 204, "DeleteAllPATs");
  assertPage(await sdk.PATs.ListPATS(page, token), "pats", [], "ListPATS after DeleteAllPATs");
}

module.exports = { calls, run };
