//! Rows of the routes that decide by actions on two entities ([`PairRow`]);
//! `pairs.rs` runs them.

use super::Row;
use serde_json::{json, Value};

/// A route that needs an action on the path's entity (`{id}`, or the domain) AND one
/// on a second entity (`{other}`), as SuperMQ checks both: connect needs
/// `connect_to_client` on the channel and `connect_to_channel` on each client, a
/// group's children `set_child` on it and `set_parent` on each child, a create into a
/// group its domain action and `set_child` on the group, moving an entity into or out
/// of a group `set_parent[_group]` on it and `set_child` on the group.
pub(crate) struct PairRow {
    pub row: Row,
    /// The second entity's type and the action it needs.
    pub other: (&'static str, &'static str),
    /// Where the two entities are made.
    pub nesting: Nesting,
}

/// Where a [`PairRow`]'s two entities are made, both somewhere under one group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Nesting {
    /// Side by side in the group.
    Beside,
    /// `{other}` in `{id}` (a child to remove).
    OtherInId,
    /// `{id}` in `{other}` (an entity to take out of its group).
    IdInOther,
}

/// Every route of [`PairRow`]'s kind.
pub(crate) fn pair_rows() -> Vec<PairRow> {
    let link = |path: &'static str, body: Value, ok: u16| PairRow {
        row: ("channel", "POST", path, Some(body), "connect_to_client", ok),
        other: ("client", "connect_to_channel"),
        nesting: Nesting::Beside,
    };
    let both = json!({"channel_ids": ["{id}"], "client_ids": ["{other}"]});
    let clients = json!({"client_ids": ["{other}"], "types": ["publish"]});
    let children = |method: &'static str, ok: u16| PairRow {
        row: (
            "group",
            method,
            "/{d}/groups/{id}/children",
            Some(json!({"children_ids": ["{other}"]})),
            "set_child",
            ok,
        ),
        other: ("group", "set_parent"),
        nesting: match method {
            "DELETE" => Nesting::OtherInId,
            _ => Nesting::Beside,
        },
    };
    let create = |path: &'static str, body: Value, action: &'static str| PairRow {
        row: ("domain", "POST", path, Some(body), action, 201),
        other: ("group", "set_child"),
        nesting: Nesting::Beside,
    };
    let one = json!({"name": "made", "parent_id": "{other}"});
    let bulk = json!([{"name": "made", "parent_id": "{other}"}]);
    let mut rows = vec![
        link("/{d}/channels/connect", both.clone(), 201),
        link("/{d}/channels/disconnect", both, 204),
        link("/{d}/channels/{id}/connect", clients.clone(), 201),
        link("/{d}/channels/{id}/disconnect", clients, 204),
        children("POST", 201),
        children("DELETE", 204),
        create("/{d}/clients", one.clone(), "client_create"),
        create("/{d}/clients/bulk", bulk.clone(), "client_create"),
        create("/{d}/channels", one.clone(), "channel_create"),
        create("/{d}/channels/bulk", bulk, "channel_create"),
        create("/{d}/groups", one, "group_create"),
    ];
    rows.extend(parent_rows());
    rows
}

/// `POST|DELETE /{d}/<kind>s/{id}/parent` of each kind: `set_parent[_group]` on the
/// entity and `set_child` on the group it goes into or leaves.
fn parent_rows() -> Vec<PairRow> {
    let kinds = [
        ("group", "/{d}/groups/{id}/parent", "set_parent"),
        ("channel", "/{d}/channels/{id}/parent", "set_parent_group"),
        ("client", "/{d}/clients/{id}/parent", "set_parent_group"),
    ];
    let move_into = kinds.map(|(kind, path, action)| PairRow {
        row: (
            kind,
            "POST",
            path,
            Some(json!({"parent_id": "{other}"})),
            action,
            200,
        ),
        other: ("group", "set_child"),
        nesting: Nesting::Beside,
    });
    let take_out = kinds.map(|(kind, path, action)| PairRow {
        row: (kind, "DELETE", path, None, action, 204),
        other: ("group", "set_child"),
        nesting: Nesting::IdInOther,
    });
    move_into.into_iter().chain(take_out).collect()
}
