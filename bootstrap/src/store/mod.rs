//! Bootstrap tables on SQLite or PostgreSQL through one set of SQL (the auth pattern).
//!
//! Both engines accept `$1`-style parameters and TEXT/BIGINT columns, so each statement
//! is written once and `magnetite_db::db_tx!` / `db_read!` expand the body for either
//! pool; rows are read through `magnetite_db::Cols`. Every change appends its event to
//! `events_outbox` inside the same transaction ([`Outbox`]: `magnetite_events::Outbox`
//! after auth's `EventAncestry` added the client's groups), so a change and its event
//! are committed (or lost) together.
//!
//! SQLite has one writer: every `db_tx!` here takes the process-wide SQLite write lock
//! (the same one auth's and certs' stores take) and `BEGIN IMMEDIATE`.

pub mod configs;
pub mod reactions;
pub(crate) use reactions::TAILER_CURSOR;
mod schema;

use magnetite_auth::EventAncestry;
pub(crate) use magnetite_db::Cols;
use magnetite_db::Db;
use magnetite_events::Event;
use serde_json::Value;

use crate::error::BootstrapError;
use crate::model::{Channel, Config, State};

type Result<T, E = BootstrapError> = std::result::Result<T, E>;

/// Appends an event on the transaction's connection (`magnetite_events::Outbox`), with
/// the groups above the client (and any other entity) it names, resolved by auth on
/// this same connection ([`EventAncestry`]): a bootstrap event is about a client, so a
/// consumer of a group with subresources sees it when the client is in the group's
/// subtree at that moment.
pub(crate) trait Outbox {
    async fn append(&mut self, ev: &Event) -> Result<()>;

    /// Appends an event about a config of `domain_id`: only that domain's members (and
    /// platform admins) read it from `GET /events`.
    async fn append_in(&mut self, ev: &Event, domain_id: &str) -> Result<()> {
        self.append(&ev.clone().in_domain(domain_id)).await
    }
}

impl<C: magnetite_events::Outbox + EventAncestry> Outbox for C {
    async fn append(&mut self, ev: &Event) -> Result<()> {
        let ev = self.with_ancestors(ev).await?;
        magnetite_events::Outbox::append(self, &ev).await?;
        Ok(())
    }
}

/// The bootstrap tables over the shared database pool (cheap to clone).
#[derive(Debug, Clone)]
pub struct ConfigStore {
    db: Db,
}

impl ConfigStore {
    /// Wraps the pool, creates the tables and migrates an older database
    /// ([`schema`]).
    pub async fn open(db: Db) -> Result<ConfigStore> {
        schema::ensure(&db).await?;
        Ok(ConfigStore { db })
    }

    /// The pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Appends events that record no change (reads, device attempts) in one
    /// transaction: one commit however many there are.
    pub async fn record_all(&self, events: &[Event]) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            for ev in events {
                tx.append(ev).await?;
            }
        });
        Ok(())
    }
}

/// The config columns of a row (channels are loaded separately).
pub(crate) fn config_from_row(r: &impl Cols) -> Result<Config> {
    let state = r.int("state")?;
    Ok(Config {
        client_id: r.text("client_id")?,
        domain_id: r.text("domain_id")?,
        external_id: r.text("external_id")?,
        name: r.text("name")?,
        content: r.text("content")?,
        client_cert: r.text("client_cert")?,
        ca_cert: r.text("ca_cert")?,
        state: State::from_i64(state).unwrap_or(State::Inactive),
        channels: Vec::new(),
        created_at: r.text("created_at")?,
        updated_at: r.opt_text("updated_at")?,
        external_key_hash: r.text("external_key_hash")?,
        client_secret_sealed: r.text("client_secret_sealed")?,
        client_key_sealed: r.text("client_key_sealed")?,
    })
}

pub(crate) fn channel_from_row(r: &impl Cols) -> Result<Channel> {
    Ok(Channel {
        id: r.text("channel_id")?,
        name: r.text("name")?,
        metadata: parse_metadata(&r.text("metadata")?),
    })
}

/// Metadata as stored (JSON text); anything unreadable is `{}`.
pub(crate) fn parse_metadata(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::json!({}))
}
