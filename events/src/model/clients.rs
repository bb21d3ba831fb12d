//! `clients` service events: `client.*`, `channel.*`, connections
//! (stream `<prefix>.clients`; `<prefix>.things` with `thing.*` names under SuperMQ).

use super::record::Shape;
use super::{str_list, Event, Page, Record, Service};

fn ev(op: &str) -> Event {
    Event::new(Service::Clients, op)
}

/// `client.create`: id, name, owner, metadata, status, created_at (+ tags). Never the secret.
pub fn client_create(c: &Record) -> Event {
    c.apply(ev("client.create"), Shape::Create)
}
/// `client.update`: the updated client with updated_at / updated_by.
pub fn client_update(c: &Record) -> Event {
    c.apply(ev("client.update"), Shape::Update)
}
/// `client.update_secret`: the secret changed (the secret itself is not in the event).
pub fn client_update_secret(c: &Record) -> Event {
    c.apply(ev("client.update_secret"), Shape::Update)
}
/// `client.update_tags`: tags changed (carries `tags`).
pub fn client_update_tags(c: &Record) -> Event {
    c.apply(ev("client.update_tags"), Shape::Update)
}
/// `client.remove`: change of state: id, status, updated_at, updated_by.
pub fn client_remove(c: &Record) -> Event {
    c.apply(ev("client.remove"), Shape::Remove)
}
/// `client.view`: the client as viewed.
pub fn client_view(c: &Record) -> Event {
    c.apply(ev("client.view"), Shape::View)
}
/// `client.list`: total, offset, limit, status.
pub fn client_list(p: &Page) -> Event {
    p.apply(ev("client.list"))
}
/// `client.list_by_channel`: as list plus `channel_id`.
pub fn client_list_by_channel(p: &Page, channel_id: &str) -> Event {
    p.apply(ev("client.list_by_channel"))
        .with("channel_id", channel_id)
}
/// `client.identify`: a client secret was resolved to `client_id`.
pub fn client_identify(client_id: &str) -> Event {
    ev("client.identify").with("client_id", client_id)
}

/// `channel.create`: id, name, owner, metadata, status, created_at.
pub fn channel_create(c: &Record) -> Event {
    c.apply(ev("channel.create"), Shape::Create)
}
/// `channel.update`: the fields that were updated plus updated_at / updated_by.
pub fn channel_update(c: &Record) -> Event {
    c.apply(ev("channel.update"), Shape::Update)
}
/// `channel.remove`: change of state: id, status, updated_at, updated_by.
pub fn channel_remove(c: &Record) -> Event {
    c.apply(ev("channel.remove"), Shape::Remove)
}
/// `channel.view`: the channel as viewed.
pub fn channel_view(c: &Record) -> Event {
    c.apply(ev("channel.view"), Shape::View)
}
/// `channel.list`: total, offset, limit, status.
pub fn channel_list(p: &Page) -> Event {
    p.apply(ev("channel.list"))
}
/// `channel.list_by_client`: as list plus `client_id`.
pub fn channel_list_by_client(p: &Page, client_id: &str) -> Event {
    p.apply(ev("channel.list_by_client"))
        .with("client_id", client_id)
}

/// `channel.connect`: clients connected to channels for the given connection types
/// (`publish`, `subscribe`). The reference predates connections and shows them as
/// `policies.add`; this is the equivalent later Magistrala versions emit.
pub fn channel_connect(channel_ids: &[String], client_ids: &[String], types: &[String]) -> Event {
    conn(ev("channel.connect"), channel_ids, client_ids, types)
}
/// `channel.disconnect`: the inverse of [`channel_connect`].
pub fn channel_disconnect(
    channel_ids: &[String],
    client_ids: &[String],
    types: &[String],
) -> Event {
    conn(ev("channel.disconnect"), channel_ids, client_ids, types)
}

fn conn(e: Event, channel_ids: &[String], client_ids: &[String], types: &[String]) -> Event {
    e.with("channel_ids", str_list(channel_ids))
        .with("client_ids", str_list(client_ids))
        .with("types", str_list(types))
}
