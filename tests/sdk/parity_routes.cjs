// The SDK calls of the parity routes added after the first modules (issue 16): profile
// picture, e-mail verification, group hierarchy, domain freeze, HTTP messaging and the
// message reader, the journal. Each entry is one call with the shape it must answer.
"use strict";

const { assert, assertPage, assertStatus, context } = require("./lib.cjs");

/** A client connected to a channel for publish and subscribe, with its secret. */
async function device({ sdk, token, domain }) {
  const meter = await sdk.Clients.CreateClient({ name: "meter", credentials: { secret: "meter-secret-0001" } }, domain, token);
  // Opted in to message storage (the default `--messages-store opt-in`).
  const channel = await sdk.Channels.CreateChannel({ name: "telemetry", metadata: { store_messages: true } }, domain, token);
  await sdk.Channels.Connect([meter.id], [channel.id], ["publish", "subscribe"], domain, token);
  return { meter, channel };
}

/** Polls `read` (the writer and the journal follow asynchronously) until `ready`. */
async function eventually(read, ready, what) {
  let last;
  for (let i = 0; i < 100; i++) {
    last = await read();
    if (ready(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what} never ready: ${JSON.stringify(last)}`);
}

const senml = JSON.stringify([{ bn: "meter:", n: "temp", u: "Cel", v: 21.5 }]);

const entries = [
  {
    call: "Users.UpdateProfilePicture", from: "wt h5 (picture)",
    run: async ({ sdk, token }) => {
      const me = await sdk.Users.UserProfile(token);
      const user = await sdk.Users.UpdateProfilePicture({ id: me.id, profile_picture: "https://example.com/me.png" }, token);
      assert.equal(user.profile_picture, "https://example.com/me.png");
    },
  },
  {
    call: "Users.SendVerification", from: "wt h5 (e-mail verification)",
    run: async ({ sdk, token }) => {
      const sent = await sdk.Users.SendVerification(token);
      assert.ok(sent.status < 300, JSON.stringify(sent));
    },
  },
  {
    call: "Users.VerifyEmail", from: "wt h5 (e-mail verification)",
    run: async ({ sdk }) => {
      // A made-up token: a served route refuses it with 400 or 401.
      try {
        await sdk.Users.VerifyEmail("not-a-verification-token");
      } catch (e) {
        if (e.status === 400 || e.status === 401) return;
        throw e;
      }
      assert.fail("a made-up verification token was accepted");
    },
  },
  {
    call: "Groups.RetrieveGroupHierarchy", from: "wt h5 (group hierarchy)",
    run: async ({ sdk, token, domain }) => {
      const hall = await sdk.Groups.CreateGroup({ name: "hall" }, domain, token);
      const room = await sdk.Groups.CreateGroup({ name: "room", parent_id: hall.id }, domain, token);
      const tree = await sdk.Groups.RetrieveGroupHierarchy(hall.id, domain, { level: 2, direction: -1, tree: false }, token);
      assert.equal(tree.level, 2);
      assert.equal(tree.direction, -1);
      assert.ok(tree.groups.some((g) => g.id === room.id), JSON.stringify(tree));
    },
  },
  {
    call: "Domains.FreezeDomain", from: "wt h5 (domain freeze)",
    run: async ({ sdk, token, unique }) => {
      const domain = await sdk.Domains.CreateDomain({ name: "frozen", route: `frozen-${unique()}` }, token);
      assertStatus(await sdk.Domains.FreezeDomain(domain.id, token), 200, "FreezeDomain");
      assert.equal((await sdk.Domains.Domain(domain.id, token)).status, "freezed");
    },
  },
  {
    call: "Messages.Send", from: "wt h3 (HTTP messaging adapter)",
    run: async (ctx) => {
      const { meter, channel } = await device(ctx);
      const sent = await ctx.sdk.Messages.Send(ctx.domain, `${channel.id}.room1`, senml, "meter-secret-0001");
      assertStatus(sent, 202, "Send");
      assert.ok(meter.id);
    },
  },
  {
    call: "Messages.Read", from: "wt h3 (message readers)",
    run: async (ctx) => {
      const { channel } = await device(ctx);
      await ctx.sdk.Messages.Send(ctx.domain, channel.id, senml, "meter-secret-0001");
      const page = await eventually(
        () => ctx.sdk.Messages.Read(ctx.domain, channel.id, { offset: 0, limit: 10 }, ctx.token),
        (p) => p.messages && p.messages.length > 0, "Read");
      assertPage(page, "messages", undefined, "Read");
      assert.equal(page.messages[0].name, "meter:temp", JSON.stringify(page));
    },
  },
  {
    call: "Journal.EntityJournals", from: "wt h4 (journal)",
    run: async ({ sdk, token, domain }) => {
      const meter = await sdk.Clients.CreateClient({ name: "meter" }, domain, token);
      const page = await eventually(
        () => sdk.Journal.EntityJournals("client", meter.id, domain, { offset: 0, limit: 10 }, token),
        (p) => p.journals && p.journals.length > 0, "EntityJournals");
      assertPage(page, "journals", undefined, "EntityJournals");
      assert.ok(page.journals.some((j) => j.operation === "client.create"), JSON.stringify(page));
    },
  },
  {
    call: "Journal.UserJournals", from: "wt h4 (journal)",
    run: async ({ sdk, token, admin }) => {
      const page = await sdk.Journal.UserJournals(admin.id, { offset: 0, limit: 10 }, token);
      assertPage(page, "journals", undefined, "UserJournals");
    },
  },
  {
    call: "Journal.ClientTelemetry", from: "wt h4 (journal telemetry)",
    run: async ({ sdk, token, domain }) => {
      const meter = await sdk.Clients.CreateClient({ name: "meter" }, domain, token);
      const telemetry = await sdk.Journal.ClientTelemetry(meter.id, domain, token);
      assert.equal(telemetry.client_id, meter.id);
      assert.equal(telemetry.domain_id, domain);
      assert.equal(telemetry.inbound_messages, 0);
    },
  },
];

const calls = entries.map((p) => p.call);

/** Each entry in a domain of its own (two devices may not share a secret in one). */
async function run(ctx) {
  for (const { call, run } of entries) {
    try {
      await run(await context(ctx.env));
    } catch (e) {
      e.message = `${call}: ${e.message}`;
      throw e;
    }
  }
}

module.exports = { calls, run };
