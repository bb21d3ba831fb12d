// Invitation calls of the official SDK's domains module: send (and resend), view, list
// per domain and per user, accept, reject, delete, with the shapes and refusals the SDK
// sees. The users module has no invitation call.
"use strict";

const { assert, assertPage, assertRefused, assertStatus } = require("./lib.cjs");

const calls = [
  "Domains.SendInvitation", "Domains.ViewInvitation", "Domains.ListDomainInvitations",
  "Domains.ListUserInvitations", "Domains.AcceptInvitation", "Domains.RejectInvitation",
  "Domains.DeleteInvitation",
];

/** A new user and their access token. */
async function person(sdk, token, name) {
  const secret = `${name}-password-1`;
  const user = await sdk.Users.Create({
    first_name: name, last_name: "Invitee", email: `${name}@example.com`,
    credentials: { username: name, secret },
  }, token);
  const tokens = await sdk.Users.CreateToken({ username: name, password: secret });
  return { id: user.id, token: tokens.access_token };
}

/** An invitation as SuperMQ renders it. */
function assertInvitation(inv, { invitee, domain, role }, what) {
  assert.equal(inv.invitee_user_id, invitee, `${what}: ${JSON.stringify(inv)}`);
  assert.equal(inv.domain_id, domain, what);
  assert.equal(inv.role_id, role, what);
  assert.equal(typeof inv.invited_by, "string", what);
  assert.equal(typeof inv.role_name, "string", what);
  assert.ok(!Number.isNaN(Date.parse(inv.created_at)), `${what}.created_at`);
}

async function run({ sdk, token, domain, unique }) {
  const roles = await sdk.Domains.ListDomainRoles(domain, { offset: 0, limit: 10 }, token);
  const role = roles.roles.find((r) => r.name === "member").id;
  const ada = await person(sdk, token, `ada-${unique()}`);
  const bob = await person(sdk, token, `bob-${unique()}`);

  assertStatus(await sdk.Domains.SendInvitation(ada.id, domain, role, token), 201, "SendInvitation");
  await assertRefused(sdk.Domains.SendInvitation(ada.id, domain, role, token), 409, "invited twice");
  assertStatus(await sdk.Domains.SendInvitation(ada.id, domain, role, token, true), 201, "resend");
  const page = await sdk.Domains.ListDomainInvitations({ offset: 0, limit: 10, state: "pending" }, domain, token);
  assertPage(page, "invitations", undefined, "ListDomainInvitations");
  assert.equal(page.total, 1, JSON.stringify(page));
  assertInvitation(page.invitations[0], { invitee: ada.id, domain, role }, "listed");
  const viewed = await sdk.Domains.ViewInvitation(ada.id, domain, token);
  assertInvitation(viewed, { invitee: ada.id, domain, role }, "ViewInvitation");
  const mine = await sdk.Domains.ListUserInvitations({ offset: 0, limit: 10 }, ada.token);
  assertPage(mine, "invitations", undefined, "ListUserInvitations");
  assert.deepEqual(mine.invitations.map((i) => i.domain_id), [domain]);

  await assertRefused(sdk.Domains.Domain(domain, ada.token), 403, "not a member yet");
  assertStatus(await sdk.Domains.AcceptInvitation(domain, ada.token), 204, "AcceptInvitation");
  assert.equal((await sdk.Domains.Domain(domain, ada.token)).id, domain);
  await assertRefused(sdk.Domains.AcceptInvitation(domain, ada.token), 409, "accepted twice");
  await assertRefused(sdk.Domains.AcceptInvitation(domain, bob.token), 404, "someone else's");

  assertStatus(await sdk.Domains.SendInvitation(bob.id, domain, role, token), 201, "invite bob");
  assertStatus(await sdk.Domains.RejectInvitation(domain, bob.token), 204, "RejectInvitation");
  const rejected = await sdk.Domains.ViewInvitation(bob.id, domain, bob.token);
  assert.ok(!Number.isNaN(Date.parse(rejected.rejected_at)), JSON.stringify(rejected));
  assertStatus(await sdk.Domains.SendInvitation(bob.id, domain, role, token, true), 201, "resend rejected");
  assertStatus(await sdk.Domains.DeleteInvitation(bob.id, domain, token), 204, "DeleteInvitation");
  await assertRefused(sdk.Domains.ViewInvitation(bob.id, domain, token), 404, "deleted");
  await assertRefused(sdk.Domains.DeleteInvitation(ada.id, domain, token), 409, "accepted one");
}

module.exports = { calls, run };
