// Runs the official-SDK checks against a running magnetite (tests/sdk_official.rs
// starts one and calls this):
//
//   MAGNETITE_URL=http://127.0.0.1:9000 ADMIN_EMAIL=... ADMIN_PASSWORD=... \
//   MAIL_DIR=<data dir>/mail UI_URL=http://ui.example.com BOOTSTRAP_KEY=<32 chars> \
//   node tests/sdk/run.cjs            # every module; exit 1 on the first wrong shape
//   node tests/sdk/run.cjs users      # only these modules (no coverage check)
//
// The default run also checks coverage: every call of the covered SDK modules is in a
// module's `calls`.
"use strict";

const SDK = require("@absmach/magistrala-sdk").default;
const { context } = require("./lib.cjs");

const MODULES = [
  "health", "users", "domains", "clients", "channels", "groups", "certs", "bootstrap",
  "parity", "parity_routes", "roles", "pats", "invitations",
];
const COVERED = [
  "Users", "Domains", "Clients", "Channels", "Groups", "Certs", "Bootstrap", "Health",
  "Messages", "Journal", "PATs",
];

/** The SDK calls of the covered modules that no script drives. */
function uncovered(driven) {
  const sdk = new SDK({});
  return COVERED.flatMap((module) =>
    Object.getOwnPropertyNames(Object.getPrototypeOf(sdk[module]))
      .filter((name) => name !== "constructor")
      .map((name) => `${module}.${name}`))
    .filter((call) => !driven.has(call));
}

async function runModules() {
  const chosen = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  const driven = new Set();
  for (const name of chosen.length > 0 ? chosen : MODULES) {
    const module = require(`./${name}.cjs`);
    module.calls.forEach((c) => driven.add(c));
    await module.run(await context(process.env));
    console.log(`ok ${name}: ${module.calls.length} calls`);
  }
  if (chosen.length > 0) return;
  const missing = uncovered(driven);
  if (missing.length > 0) throw new Error(`SDK calls no script drives: ${missing.join(", ")}`);
  console.log(`SDK: every call of ${COVERED.join(", ")} driven`);
}

runModules().catch((e) => {
  console.error("SDK check failed:", e);
  process.exit(1);
});
