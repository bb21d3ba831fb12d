// Channels module of the official SDK (the calls outside the roles API): channels,
// connections both ways, parent group.
"use strict";

const { assert, assertId, assertPage, assertRefused, assertStatus } = require("./lib.cjs");

const calls = [
  "Channels.CreateChannel", "Channels.Channel", "Channels.CreateChannels", "Channels.Channels",
  "Channels.UpdateChannelNameAndMetadata", "Channels.UpdateChannelTags", "Channels.DisableChannel",
  "Channels.EnableChannel", "Channels.DeleteChannel", "Channels.ConnectClient", "Channels.Connect",
  "Channels.Disconnect", "Channels.DisconnectClient", "Channels.SetChannelParentGroup",
  "Channels.DeleteChannelParentGroup",
];

async function create({ sdk, token, domain, unique }) {
  const route = `telemetry-${unique()}`;
  const channel = await sdk.Channels.CreateChannel({ name: "telemetry", route, tags: ["t"], metadata: { unit: "C" } }, domain, token);
  assertId(channel.id, "CreateChannel.id");
  assert.equal(channel.name, "telemetry");
  assert.equal(channel.route, route);
  assert.equal(channel.domain_id, domain);
  assert.deepEqual(channel.metadata, { unit: "C" });
  assert.equal(channel.status, "enabled");
  const bulk = await sdk.Channels.CreateChannels([{ name: "alarms" }, { name: "commands" }], domain, token);
  assert.equal(bulk.total, 2, JSON.stringify(bulk));
  assert.deepEqual(bulk.channels.map((c) => c.name).sort(), ["alarms", "commands"]);
  const viewed = await sdk.Channels.Channel(channel.id, domain, token);
  assert.equal(viewed.route, route);
  const page = await sdk.Channels.Channels({ offset: 0, limit: 10 }, domain, token);
  assertPage(page, "channels", [channel.id, ...bulk.channels.map((c) => c.id)], "Channels");
  return { channel, others: bulk.channels };
}

async function update({ sdk, token, domain }, { channel }) {
  const updated = await sdk.Channels.UpdateChannelNameAndMetadata({ id: channel.id, name: "telemetry-2", metadata: { unit: "K" } }, domain, token);
  assert.equal(updated.name, "telemetry-2");
  assert.deepEqual(updated.metadata, { unit: "K" });
  const tagged = await sdk.Channels.UpdateChannelTags({ id: channel.id, tags: ["a", "b"] }, domain, token);
  assert.deepEqual(tagged.tags, ["a", "b"]);
  assert.equal((await sdk.Channels.DisableChannel(channel.id, domain, token)).status, "disabled");
  assert.equal((await sdk.Channels.EnableChannel(channel.id, domain, token)).status, "enabled");
}

/** The ids of the clients connected to `channel` (with `type`, when given). */
async function connected(sdk, token, domain, channel, type) {
  const query = { offset: 0, limit: 10, channel, ...(type ? { connection_type: type } : {}) };
  return (await sdk.Clients.Clients(query, domain, token)).clients.map((c) => c.id).sort();
}

async function connections({ sdk, token, domain }, { channel, others }) {
  const meter = await sdk.Clients.CreateClient({ name: "meter" }, domain, token);
  const lamp = await sdk.Clients.CreateClient({ name: "lamp" }, domain, token);
  const both = ["publish", "subscribe"];
  assertStatus(await sdk.Channels.Connect([meter.id], [channel.id, others[0].id], both, domain, token), 201, "Connect");
  assert.deepEqual(await connected(sdk, token, domain, channel.id), [meter.id]);
  assertStatus(await sdk.Channels.ConnectClient([lamp.id], channel.id, ["subscribe"], domain, token), 201, "ConnectClient");
  assert.deepEqual(await connected(sdk, token, domain, channel.id, "Subscribe"), [meter.id, lamp.id].sort());
  assert.deepEqual(await connected(sdk, token, domain, channel.id, "Publish"), [meter.id]);
  const ofMeter = await sdk.Channels.Channels({ offset: 0, limit: 10, client: meter.id }, domain, token);
  assertPage(ofMeter, "channels", [channel.id, others[0].id], "Channels(client)");

  assertStatus(await sdk.Channels.DisconnectClient([lamp.id], channel.id, ["subscribe"], domain, token), 204, "DisconnectClient");
  assert.deepEqual(await connected(sdk, token, domain, channel.id), [meter.id]);
  assertStatus(await sdk.Channels.Disconnect([meter.id], [channel.id], both, domain, token), 204, "Disconnect");
  assert.deepEqual(await connected(sdk, token, domain, channel.id), []);
  await assertRefused(sdk.Channels.Connect([meter.id], ["00000000-0000-4000-8000-000000000000"], both, domain, token), 404, "missing channel");
}

async function parent({ sdk, token, domain }, { channel }) {
  const group = await sdk.Groups.CreateGroup({ name: "building" }, domain, token);
  const set = await sdk.Channels.SetChannelParentGroup(domain, channel.id, group.id, token);
  assert.ok(set.status < 300, JSON.stringify(set));
  assert.equal((await sdk.Channels.Channel(channel.id, domain, token)).parent_group_id, group.id);
  const unset = await sdk.Channels.DeleteChannelParentGroup(domain, channel.id, token);
  assert.ok(unset.status < 300, JSON.stringify(unset));
  assert.ok(!(await sdk.Channels.Channel(channel.id, domain, token)).parent_group_id);
}

async function run(ctx) {
  const made = await create(ctx);
  await update(ctx, made);
  await connections(ctx, made);
  await parent(ctx, made);
  const gone = made.others[1].id;
  assertStatus(await ctx.sdk.Channels.DeleteChannel(gone, ctx.domain, ctx.token), 204, "DeleteChannel");
  await assertRefused(ctx.sdk.Channels.Channel(gone, ctx.domain, ctx.token), 404, "deleted channel");
}

module.exports = { calls, run };
