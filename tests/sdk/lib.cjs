// The shared harness of the official-SDK checks: one SDK whose every service URL is
// magnetite's one HTTP address, the admin's token, a fresh domain, and the shape
// assertions the module scripts use. See run.cjs for how the modules are run.
"use strict";

const SDK = require("@absmach/magistrala-sdk").default;
const assert = require("node:assert/strict");

/**
 * With `SDK_REQUEST_LOG` set, every request the SDK makes is appended to that file as
 * `METHOD /path STATUS`, so the Rust test can check each served route against
 * `/openapi.json`.
 */
function logRequests(file) {
  const fs = require("node:fs");
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init = {}) => {
    const response = await original(input, init);
    const { pathname } = new URL(String(input));
    fs.appendFileSync(file, `${init.method || "GET"} ${pathname} ${response.status}\n`);
    return response;
  };
}
if (process.env.SDK_REQUEST_LOG) logRequests(process.env.SDK_REQUEST_LOG);

const SERVICES = [
  "users", "clients", "channels", "domains", "groups", "certs", "bootstrap",
  "readers", "httpAdapter", "journal", "auth",
];

/** The SDK pointed at `url` for every service. */
function sdkFor(url) {
  return new SDK(Object.fromEntries(SERVICES.map((s) => [`${s}Url`, url])));
}

/** The sorted ids of `page[key]`. */
const ids = (page, key) => page[key].map((e) => e.id).sort();

/** A suffix that keeps names and routes unique across runs against one server. */
const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** A UUID-shaped string (the ids magnetite hands out). */
function assertId(value, what) {
  assert.match(String(value), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `${what}: ${value}`);
}

/** A page of `key` items: `{key: [...], total, offset, limit}` with these ids in any order. */
function assertPage(page, key, expectedIds, what) {
  assert.ok(Array.isArray(page[key]), `${what}: ${JSON.stringify(page)}`);
  assert.equal(typeof page.total, "number", `${what}.total: ${JSON.stringify(page)}`);
  if (expectedIds !== undefined) {
    assert.deepEqual(ids(page, key), [...expectedIds].sort(), what);
    assert.equal(page.total, expectedIds.length, `${what}.total`);
  }
}

/** An SDK error (`{status, error}`) with this HTTP status and a message. */
async function assertRefused(promise, status, what) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.status, status, `${what}: ${JSON.stringify(e)}`);
    assert.ok(typeof e.error === "string" && e.error.length > 0, `${what}: ${JSON.stringify(e)}`);
    return true;
  });
}

/** An SDK success response (`{status, message}`) with this status. */
function assertStatus(response, status, what) {
  assert.equal(response.status, status, `${what}: ${JSON.stringify(response)}`);
}

/**
 * What every module gets: the SDK, the admin's token and id, and a domain of its own
 * (so modules never see each other's entities).
 */
async function context(env) {
  const sdk = sdkFor(env.MAGNETITE_URL);
  const login = { username: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD };
  const tokens = await sdk.Users.CreateToken(login);
  const token = tokens.access_token;
  const admin = await sdk.Users.UserProfile(token);
  const domain = await sdk.Domains.CreateDomain({ name: "sdk", route: `sdk-${unique()}` }, token);
  return { sdk, url: env.MAGNETITE_URL, env, token, tokens, admin, domain: domain.id, unique };
}

module.exports = {
  assert, assertId, assertPage, assertRefused, assertStatus, context, ids, sdkFor, unique,
};
