// Users module of the official SDK: accounts, tokens, profile, updates, status,
// per-user lists, password change and reset, search, delete.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { assert, assertId, assertPage, assertRefused, assertStatus } = require("./lib.cjs");

const calls = [
  "Users.Create", "Users.CreateToken", "Users.RefreshToken", "Users.Update",
  "Users.UpdateEmail", "Users.UpdateUsername", "Users.UpdateUserTags",
  "Users.UpdateUserPassword", "Users.User", "Users.UserProfile", "Users.Users",
  "Users.Disable", "Users.Enable", "Users.ListUserGroups", "Users.ListUserClients",
  "Users.ListUserChannels", "Users.ResetPasswordRequest", "Users.ResetPassword",
  "Users.DeleteUser", "Users.SearchUsers", "Users.UpdateUserRole",
];

/** The token of the reset link in the newest mail of `dir` (waits up to 15 s). */
async function resetTokenIn(dir) {
  for (let i = 0; i < 150; i++) {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".eml")) : [];
    if (files.length > 0) {
      const mail = fs.readFileSync(path.join(dir, files[0]), "utf8")
        .replace(/=\r?\n/g, "").replace(/=3D/g, "=");
      const match = mail.match(/\/password\/reset\?token=(\S+)/);
      assert.ok(match, `a reset link in ${mail}`);
      return match[1];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail in ${dir}`);
}

async function accounts({ sdk, token, unique }) {
  const name = `ada-${unique()}`;
  const user = await sdk.Users.Create({
    first_name: "Ada", last_name: "Lovelace", email: `${name}@example.com`,
    credentials: { username: name, secret: "analytical-engine-1843" },
    tags: ["math"], metadata: { era: "victorian" },
  }, token);
  assertId(user.id, "Create.id");
  assert.equal(user.first_name, "Ada");
  assert.equal(user.email, `${name}@example.com`);
  assert.equal(user.credentials.username, name);
  assert.equal(user.credentials.secret, undefined, "no secret in a response");
  assert.deepEqual(user.tags, ["math"]);
  assert.deepEqual(user.metadata, { era: "victorian" });
  assert.equal(user.status, "enabled");

  const tokens = await sdk.Users.CreateToken({ username: name, password: "analytical-engine-1843" });
  assert.ok(tokens.access_token && tokens.refresh_token, JSON.stringify(tokens));
  assert.equal(tokens.access_type, "Bearer");
  const refreshed = await sdk.Users.RefreshToken(tokens.refresh_token);
  assert.ok(refreshed.access_token && refreshed.refresh_token, JSON.stringify(refreshed));
  await assertRefused(sdk.Users.CreateToken({ username: name, password: "wrong-password-0" }), 401, "bad password");

  const own = tokens.access_token;
  const profile = await sdk.Users.UserProfile(own);
  assert.equal(profile.id, user.id);
  const viewed = await sdk.Users.User(user.id, token);
  assert.equal(viewed.credentials.username, name);
  return { user, own, name };
}

async function updates({ sdk, token }, { user, own, name }) {
  const updated = await sdk.Users.Update({ id: user.id, first_name: "Augusta", last_name: "King", metadata: { era: "1840s" } }, own);
  assert.equal(updated.first_name, "Augusta");
  assert.equal(updated.last_name, "King");
  assert.deepEqual(updated.metadata, { era: "1840s" });
  const email = `${name}@engines.example.com`;
  const emailed = await sdk.Users.UpdateEmail({ id: user.id, email }, own);
  assert.equal(emailed.email, email);
  const renamed = await sdk.Users.UpdateUsername({ id: user.id, credentials: { username: `${name}-k` } }, own);
  assert.equal(renamed.credentials.username, `${name}-k`);
  const tagged = await sdk.Users.UpdateUserTags({ id: user.id, tags: ["math", "poetry"] }, own);
  assert.deepEqual(tagged.tags, ["math", "poetry"]);
  await sdk.Users.UpdateUserPassword("analytical-engine-1843", "difference-engine-1822", own);
  const again = await sdk.Users.CreateToken({ username: `${name}-k`, password: "difference-engine-1822" });
  assert.ok(again.access_token);
  // Another user's profile is not theirs to change.
  await assertRefused(sdk.Users.Update({ id: (await sdk.Users.UserProfile(token)).id, first_name: "x" }, own), 403, "foreign update");
}

async function lists({ sdk, token, domain }, { user, own, name }) {
  const page = await sdk.Users.Users({ offset: 0, limit: 10, username: `${name}-k` }, token);
  assertPage(page, "users", [user.id], "Users(username)");
  assert.equal(page.limit, 10);
  const found = await sdk.Users.SearchUsers({ username: `${name}-k` }, own);
  assertPage(found, "users", [user.id], "SearchUsers");
  assert.equal(found.users[0].email, undefined, "search shows no e-mail");

  const client = await sdk.Clients.CreateClient({ name: "by-admin" }, domain, token);
  const channel = await sdk.Channels.CreateChannel({ name: "by-admin" }, domain, token);
  const group = await sdk.Groups.CreateGroup({ name: "by-admin" }, domain, token);
  const adminId = (await sdk.Users.UserProfile(token)).id;
  const q = { offset: 0, limit: 10 };
  assertPage(await sdk.Users.ListUserClients(adminId, domain, q, token), "clients", [client.id], "ListUserClients");
  assertPage(await sdk.Users.ListUserChannels(domain, adminId, q, token), "channels", [channel.id], "ListUserChannels");
  assertPage(await sdk.Users.ListUserGroups(domain, adminId, q, token), "groups", [group.id], "ListUserGroups");
  assertPage(await sdk.Users.ListUserClients(user.id, domain, q, token), "clients", [], "ListUserClients(other)");
}

async function status({ sdk, token }, { user, name }) {
  const disabled = await sdk.Users.Disable(user.id, token);
  assert.equal(disabled.status, "disabled");
  await assertRefused(sdk.Users.CreateToken({ username: `${name}-k`, password: "difference-engine-1822" }), 401, "disabled login");
  const enabled = await sdk.Users.Enable(user.id, token);
  assert.equal(enabled.status, "enabled");
  // The platform role (admin / user), not the roles API.
  const promoted = await sdk.Users.UpdateUserRole({ id: user.id, role: "admin" }, token);
  assert.equal(promoted.role, "admin");
  const demoted = await sdk.Users.UpdateUserRole({ id: user.id, role: "user" }, token);
  assert.equal(demoted.role, "user");
}

async function passwordReset({ sdk, env }, { name }) {
  const email = `${name}@engines.example.com`;
  const requested = await sdk.Users.ResetPasswordRequest(email, env.UI_URL);
  assert.ok(requested.status === 201 || requested.status === 200, JSON.stringify(requested));
  const resetToken = await resetTokenIn(env.MAIL_DIR);
  await assertRefused(sdk.Users.ResetPassword("new-pass-0001", "new-pass-0002", resetToken), 400, "mismatch");
  await sdk.Users.ResetPassword("bletchley-park-1941", "bletchley-park-1941", resetToken);
  const tokens = await sdk.Users.CreateToken({ username: email, password: "bletchley-park-1941" });
  assert.ok(tokens.access_token);
}

async function deletion({ sdk, token }, { user }) {
  const gone = await sdk.Users.DeleteUser(user.id, token);
  assertStatus(gone, 204, "DeleteUser");
  await assertRefused(sdk.Users.User(user.id, token), 404, "deleted user");
}

async function run(ctx) {
  const account = await accounts(ctx);
  await updates(ctx, account);
  await lists(ctx, account);
  await status(ctx, account);
  await passwordReset(ctx, account);
  await deletion(ctx, account);
}

module.exports = { calls, run };
