//! The authorization matrix's rows: one table of every entity route that decides by an
//! action on one entity ([`matrix`], a file per entity type) plus the role routes of
//! the four entity types (`role_routes.rs`), joined by [`all_rows`]; the routes that
//! decide by actions on two entities (`two_entities.rs`, [`pair_rows`]). `matrix.rs`
//! and `pairs.rs` run them, `coverage.rs` ties them to the served routes.

mod channel;
mod client;
mod domain;
mod group;
mod role_routes;
mod two_entities;

use serde_json::Value;

pub(super) use two_entities::{pair_rows, Nesting, PairRow};

/// One route: entity type, method, path (`{d}` domain, `{id}` the entity, `{g2}`
/// another group, `{u}` a user outside the domain), body, the action it needs, its
/// success status.
pub(super) type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<Value>,
    &'static str,
    u16,
);

/// THE table: every entity route that decides by an action on one entity. A route
/// added without its row is a route nobody proved is enforced.
pub(super) fn matrix() -> Vec<Row> {
    let mut rows = domain::rows();
    rows.extend(group::rows());
    rows.extend(channel::rows());
    rows.extend(client::rows());
    rows
}

/// [`matrix`] with a row for each role route of each entity type it lacks.
pub(super) fn all_rows() -> Vec<Row> {
    let mut rows = matrix();
    rows.extend(role_routes::missing_from(&rows));
    rows
}
