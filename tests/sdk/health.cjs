// Health module of the official SDK: every service name answers from the one address
// with SuperMQ's health fields.
"use strict";

const { assert } = require("./lib.cjs");

const calls = ["Health.Health"];

async function run({ sdk }) {
  for (const service of ["users", "clients", "channels", "domains", "groups", "certs", "bootstrap"]) {
    const health = await sdk.Health.Health(service);
    assert.equal(health.status, "pass", `${service}: ${JSON.stringify(health)}`);
    for (const key of ["version", "commit", "description", "build_time", "instance_id"]) {
      assert.ok(typeof health[key] === "string" && health[key].length > 0, `${service} health.${key}: ${JSON.stringify(health)}`);
    }
  }
}

module.exports = { calls, run };
