//! Clients, channels and groups: one table shape, one code path (see `model::Kind`).

use magnetite_events::Event;
use sqlx::{PgConnection, SqliteConnection};

use super::ancestry::EventAncestry;
use super::list::{fetch_page, Filter, Filters, ListQuery};
use super::{json_text, parse_metadata, parse_tags, Cols, Outbox, Store};
use crate::error::{AuthError, Result};
use crate::model::{Audit, Entity, Kind, Status};
use crate::roles::ProvisionedRole;

pub(super) fn entity_from_row(kind: Kind, r: &impl Cols) -> Result<Entity> {
    Ok(Entity {
        kind,
        id: r.text("id")?,
        domain_id: r.text("domain_id")?,
        name: r.text("name")?,
        route: r.opt_text("route")?,
        description: r.opt_text("description")?,
        tags: parse_tags(&r.text("tags")?),
        metadata: parse_metadata(&r.text("metadata")?),
        status: Status::from_column(&r.text("status")?),
        parent_id: r.opt_text("parent_id")?,
        created_by: r.text("created_by")?,
        audit: Audit {
            created_at: r.text("created_at")?,
            updated_at: r.opt_text("updated_at")?,
            updated_by: r.opt_text("updated_by")?,
        },
    })
}

/// One entity to insert: the row, its secret's stored form (clients), its event.
pub struct NewEntity<'a> {
    pub entity: &'a Entity,
    pub secret_hash: Option<&'a str>,
    pub event: &'a Event,
    /// Kaa endpoint events appended after `event` (empty when Kaa events are off).
    pub kaa: &'a [Event],
    /// Its built-in admin role, written with it (the service always gives one; `None`
    /// is for tests of the rows alone).
    pub admin_role: Option<&'a ProvisionedRole>,
}

/// Writes entity rows (with their events) on an open transaction's connection, so
/// another service's rows can commit in the same transaction (bootstrap creates a
/// client and its config together). Implemented for both engines from one body.
#[allow(async_fn_in_trait)] // called on the concrete connection types only
pub trait EntityRows {
    /// Inserts `items` and appends their events, in order.
    async fn insert_entity_rows(&mut self, items: &[NewEntity<'_>]) -> Result<()>;
}

macro_rules! impl_entity_rows {
    ($conn:ty) => {
        impl EntityRows for $conn {
            async fn insert_entity_rows(&mut self, items: &[NewEntity<'_>]) -> Result<()> {
                for item in items {
                    let e = item.entity;
                    let sql = format!(
                        "INSERT INTO {} (id, domain_id, name, route, description, secret_hash, \
                         tags, metadata, status, parent_id, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                        e.kind.table()
                    );
                    sqlx::query(&sql)
                        .bind(&e.id)
                        .bind(&e.domain_id)
                        .bind(&e.name)
                        .bind(&e.route)
                        .bind(&e.description)
                        .bind(item.secret_hash.unwrap_or(""))
                        .bind(json_text(&e.tags))
                        .bind(json_text(&e.metadata))
                        .bind(e.status.as_str())
                        .bind(&e.parent_id)
                        .bind(&e.created_by)
                        .bind(&e.audit.created_at)
                        .execute(&mut *self)
                        .await?;
                    if let Some(admin) = item.admin_role {
                        let (r, actions, members) = (&admin.role, &admin.actions, &admin.members);
                        super::role_rows::insert_role(self, r, actions, members).await?;
                    }
                    let ev = self.with_ancestors(item.event).await?;
                    self.append_in(&ev, &e.domain_id).await?;
                    for kaa in item.kaa {
                        self.append_in(kaa, &e.domain_id).await?;
                    }
                }
                Ok(())
            }
        }
    };
}
impl_entity_rows!(SqliteConnection);
impl_entity_rows!(PgConnection);

impl Store {
    /// Inserts all of `items` in one transaction (a bulk create is all or nothing).
    pub async fn insert_entities(&self, items: &[NewEntity<'_>]) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            tx.insert_entity_rows(items).await?;
        });
        Ok(())
    }

    /// The entity `id_or_route` (channels may be named by route) of `domain_id`.
    pub async fn entity(&self, kind: Kind, domain_id: &str, id_or_route: &str) -> Result<Entity> {
        let sql = format!(
            "SELECT * FROM {} WHERE domain_id = $1 AND (id = $2 OR route = $2)",
            kind.table()
        );
        magnetite_db::db_read!(self.db(), pool => {
            let row = sqlx::query(&sql)
                .bind(domain_id)
                .bind(id_or_route)
                .fetch_optional(pool)
                .await?;
            row.as_ref()
                .map(|r| entity_from_row(kind, r))
                .transpose()?
                .ok_or(AuthError::NotFound(kind.name()))
        })
    }

    /// The ids of the groups whose parent is the group `id`.
    pub async fn child_groups(&self, id: &str) -> Result<Vec<String>> {
        let sql = "SELECT id FROM groups WHERE parent_id = $1";
        self.texts(sql, id, "id").await
    }

    /// A page of `kind` in `domain_id`; `parent` restricts to children of a group,
    /// `channel` (clients only) to clients connected to that channel.
    pub async fn list_entities(
        &self,
        kind: Kind,
        domain_id: &str,
        q: &ListQuery,
        scope: Scope<'_>,
    ) -> Result<(u64, Vec<Entity>)> {
        self.list_entities_readable(kind, domain_id, q, scope, None)
            .await
    }

    /// [`Store::list_entities`], narrowed to what `reader` may read through their
    /// roles when given (`super::visible`).
    pub async fn list_entities_readable(
        &self,
        kind: Kind,
        domain_id: &str,
        q: &ListQuery,
        scope: Scope<'_>,
        reader: Option<&str>,
    ) -> Result<(u64, Vec<Entity>)> {
        let mut filter = Filter::default().with_query(q, "name");
        filter.add("domain_id = ?", domain_id);
        if let Some(user) = reader {
            super::visible::add_readable(&mut filter, kind, user, domain_id);
        }
        match scope {
            Scope::All => {}
            Scope::Parent(p) => filter.add("parent_id = ?", p),
            Scope::ConnectedTo(ch) => filter.add(
                "id IN (SELECT client_id FROM connections WHERE channel_id = ?)",
                ch,
            ),
            Scope::ConnectedFrom(cl) => filter.add(
                "id IN (SELECT channel_id FROM connections WHERE client_id = ?)",
                cl,
            ),
        }
        add_relation_filters(&mut filter, &q.filters, domain_id);
        Ok(fetch_page!(self, filter, kind.table(), q, |r| {
            entity_from_row(kind, r)
        }))
    }

    /// Writes every mutable column of `e` (and optionally a new secret), appending `ev`
    /// and then the `kaa` events of the change.
    pub async fn update_entity(
        &self,
        e: &Entity,
        secret_hash: Option<&str>,
        ev: &Event,
        kaa: &[Event],
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET name = $3, route = $4, description = $5, tags = $6, metadata = $7, \
             status = $8, parent_id = $9, updated_at = $10, updated_by = $11, \
             secret_hash = COALESCE($12, secret_hash) WHERE id = $1 AND domain_id = $2",
            e.kind.table()
        );
        magnetite_db::db_tx!(self.db(), tx => {
            let done = sqlx::query(&sql)
                .bind(&e.id)
                .bind(&e.domain_id)
                .bind(&e.name)
                .bind(&e.route)
                .bind(&e.description)
                .bind(json_text(&e.tags))
                .bind(json_text(&e.metadata))
                .bind(e.status.as_str())
                .bind(&e.parent_id)
                .bind(&e.audit.updated_at)
                .bind(&e.audit.updated_by)
                .bind(secret_hash)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(AuthError::NotFound(e.kind.name()));
            }
            let ev = tx.with_ancestors(ev).await?;
            tx.append_in(&ev, &e.domain_id).await?;
            for kaa in kaa {
                tx.append_in(kaa, &e.domain_id).await?;
            }
        });
        Ok(())
    }

    /// Deletes the entity with its connections; children of a group lose their parent.
    /// Appends `ev`, then the `kaa` events of the deletion.
    pub async fn delete_entity(
        &self,
        kind: Kind,
        domain_id: &str,
        id: &str,
        ev: &Event,
        kaa: &[Event],
    ) -> Result<()> {
        let sql = format!(
            "DELETE FROM {} WHERE id = $1 AND domain_id = $2",
            kind.table()
        );
        magnetite_db::db_tx!(self.db(), tx => {
            // Before the row (and its parent) goes: a removal is recorded in the subtree
            // the entity was in.
            let ev = tx.with_ancestors(ev).await?;
            let done = sqlx::query(&sql).bind(id).bind(domain_id).execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Err(AuthError::NotFound(kind.name()));
            }
            let cleanup: &[&str] = match kind {
                Kind::Client => &["DELETE FROM connections WHERE client_id = $1"],
                Kind::Channel => &["DELETE FROM connections WHERE channel_id = $1"],
                Kind::Group => &[
                    "UPDATE clients SET parent_id = NULL WHERE parent_id = $1",
                    "UPDATE channels SET parent_id = NULL WHERE parent_id = $1",
                    "UPDATE groups SET parent_id = NULL WHERE parent_id = $1",
                ],
            };
            for stmt in cleanup.iter().chain(super::roles::ENTITY_ROLES_CLEANUP) {
                sqlx::query(stmt).bind(id).execute(&mut *tx).await?;
            }
            tx.append_in(&ev, domain_id).await?;
            for kaa in kaa {
                tx.append_in(kaa, domain_id).await?;
            }
        });
        Ok(())
    }

    /// Ids of the group `id` and all its ancestors, nearest first (to refuse cycles).
    pub async fn group_ancestors(&self, domain_id: &str, id: &str) -> Result<Vec<String>> {
        let mut chain = vec![id.to_string()];
        let mut current = self.entity(Kind::Group, domain_id, id).await?;
        while let Some(parent) = current.parent_id.clone() {
            if chain.contains(&parent) || chain.len() > 64 {
                break;
            }
            chain.push(parent.clone());
            current = self.entity(Kind::Group, domain_id, &parent).await?;
        }
        Ok(chain)
    }
}

/// Which entities of a domain a list covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    All,
    Parent(&'a str),
    ConnectedTo(&'a str),
    ConnectedFrom(&'a str),
}

/// The relation filters of a list (`channel`, `client`, `group`, `user`,
/// `root_group`). Connections are matched in `domain_id` only, so a foreign id
/// narrows to nothing, exactly like a missing one.
fn add_relation_filters(filter: &mut Filter, f: &Filters, domain_id: &str) {
    if let Some(channel) = &f.channel {
        let connected = "id IN (SELECT client_id FROM connections WHERE channel_id = ? \
                         AND domain_id = ?";
        match &f.connection_type {
            None => filter.add_many(&format!("{connected})"), &[channel, domain_id]),
            Some(t) => filter.add_many(
                &format!("{connected} AND type = ?)"),
                &[channel, domain_id, t.as_str()],
            ),
        }
    }
    if let Some(client) = &f.client {
        filter.add_many(
            "id IN (SELECT channel_id FROM connections WHERE client_id = ? AND domain_id = ?)",
            &[client, domain_id],
        );
    }
    if let Some(group) = &f.group {
        filter.add("parent_id = ?", group.clone());
    }
    if let Some(user) = &f.user {
        filter.add("created_by = ?", user.clone());
    }
    if f.root_group {
        filter.add_raw("parent_id IS NULL");
    }
}
