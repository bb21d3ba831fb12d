//! Entity snapshots and page parameters shared by the users/clients constructors.

use super::{str_list, Event};
use serde_json::Value;

/// The snapshot of a user, group, client or channel that an event carries.
///
/// Every field but `id` is optional because the reference omits fields that were not
/// set ("Every one of these events will omit fields that were not used").
/// Timestamps are RFC 3339 strings as the services render them
/// (`2023-08-29T11:06:11.914074Z`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Entity id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Users only: e-mail / identity.
    pub identity: Option<String>,
    /// Owner (user or domain) id.
    pub owner: Option<String>,
    /// Free-form metadata (a JSON object).
    pub metadata: Option<Value>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// `enabled` / `disabled`.
    pub status: Option<String>,
    /// Creation time.
    pub created_at: Option<String>,
    /// Last update time.
    pub updated_at: Option<String>,
    /// Who updated it.
    pub updated_by: Option<String>,
}

/// Which fields of a [`Record`] an operation carries (per the reference).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// create: id, name, owner, identity, metadata, tags, status, created_at.
    Create,
    /// view: same as create.
    View,
    /// update / update_*: everything, including updated_at / updated_by.
    Update,
    /// remove (change of state): id, status, updated_at, updated_by.
    Remove,
}

impl Record {
    /// Copies the fields `shape` calls for into `ev`.
    pub(crate) fn apply(&self, ev: Event, shape: Shape) -> Event {
        let ev = ev.with("id", self.id.as_str());
        let ev = match shape {
            Shape::Remove => ev,
            _ => ev
                .with_opt("name", self.name.clone())
                .with_opt("identity", self.identity.clone())
                .with_opt("owner", self.owner.clone())
                .with_opt("metadata", self.metadata.clone())
                .with_opt("tags", self.tags.as_deref().map(str_list))
                .with_opt("created_at", self.created_at.clone()),
        };
        let ev = ev.with_opt("status", self.status.clone());
        match shape {
            Shape::Update | Shape::Remove => ev
                .with_opt("updated_at", self.updated_at.clone())
                .with_opt("updated_by", self.updated_by.clone()),
            Shape::Create | Shape::View => ev,
        }
    }
}

/// The page a list operation returned: `total`, `offset`, `limit`, `status` filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Total matching entities.
    pub total: u64,
    /// Page offset.
    pub offset: u64,
    /// Page limit.
    pub limit: u64,
    /// Status filter (`enabled`, `disabled`, `all`); omitted when `None`.
    pub status: Option<String>,
}

impl Page {
    /// Copies the page fields into `ev`.
    pub(crate) fn apply(&self, ev: Event) -> Event {
        ev.with("total", self.total)
            .with("offset", self.offset)
            .with("limit", self.limit)
            .with_opt("status", self.status.clone())
    }
}
