//! Config rows and their channels: create, read, list, update, delete. Each mutation
//! takes the event that describes it and writes it in the same transaction.

use magnetite_auth::access::ReadableClients;
use magnetite_auth::store::entities::{EntityRows, NewEntity};
use magnetite_events::Event;

use super::{channel_from_row, config_from_row, Cols, ConfigStore, Outbox, Result};
use crate::error::BootstrapError;
use crate::model::{Channel, Config};

/// List filters: `name` (case-insensitive substring) and `state`, plus the page.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Substring of the config name.
    pub name: Option<String>,
    /// Only this state (`0` / `1`).
    pub state: Option<i64>,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u64,
}

const INSERT_CHANNEL: &str = "INSERT INTO bootstrap_channels \
     (client_id, channel_id, position, name, metadata) VALUES ($1, $2, $3, $4, $5)";

/// `LIKE` pattern for a literal substring (`\` escapes `%` and `_`).
fn like_pattern(name: &str) -> String {
    let escaped = name
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn not_found(done: u64) -> Result<()> {
    if done == 0 {
        Err(BootstrapError::NotFound("config"))
    } else {
        Ok(())
    }
}

/// Inserts the channel list of the config `$c`, in order, on the transaction `$tx` of
/// either engine (a macro because the two transaction types share no trait we can
/// name, while the statement is the same).
macro_rules! insert_channels {
    ($tx:ident, $c:expr) => {
        for (position, ch) in $c.channels.iter().enumerate() {
            sqlx::query(INSERT_CHANNEL)
                .bind(&$c.client_id)
                .bind(&ch.id)
                .bind(position as i64)
                .bind(&ch.name)
                .bind(ch.metadata.to_string())
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// A value bound in an update of a config's columns.
#[derive(Clone, Copy)]
enum Val<'a> {
    Text(&'a str),
    Int(i64),
}

impl ConfigStore {
    /// Inserts the config and its channels with `ev`, after `new_client` (the client
    /// created for this config, with its `client.create` event) in the same
    /// transaction. A taken client id, an external id the domain already has, or an
    /// external id + key pair any domain has fails with a unique violation and leaves
    /// nothing behind: neither the config nor its new client.
    pub async fn insert(
        &self,
        c: &Config,
        ev: &Event,
        new_client: Option<NewEntity<'_>>,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            if let Some(client) = &new_client {
                let rows = std::slice::from_ref(client);
                tx.insert_entity_rows(rows).await?;
            }
            sqlx::query(
                "INSERT INTO bootstrap_configs (client_id, domain_id, external_id, \
                 external_key_hash, client_secret_sealed, name, content, client_cert, \
                 client_key_sealed, ca_cert, state, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&c.client_id)
            .bind(&c.domain_id)
            .bind(&c.external_id)
            .bind(&c.external_key_hash)
            .bind(&c.client_secret_sealed)
            .bind(&c.name)
            .bind(&c.content)
            .bind(&c.client_cert)
            .bind(&c.client_key_sealed)
            .bind(&c.ca_cert)
            .bind(c.state.as_i64())
            .bind(&c.created_at)
            .execute(&mut *tx)
            .await?;
            insert_channels!(tx, c);
            tx.append_in(ev, &c.domain_id).await?;
        });
        Ok(())
    }

    /// The channels of a config, in order.
    pub async fn channels(&self, client_id: &str) -> Result<Vec<Channel>> {
        magnetite_db::db_read!(self.db(), pool => {
            let rows = sqlx::query(
                "SELECT channel_id, name, metadata FROM bootstrap_channels \
                 WHERE client_id = $1 ORDER BY position, channel_id",
            )
            .bind(client_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(channel_from_row).collect()
        })
    }

    async fn with_channels(&self, c: Option<Config>) -> Result<Option<Config>> {
        match c {
            None => Ok(None),
            Some(mut c) => {
                c.channels = self.channels(&c.client_id).await?;
                Ok(Some(c))
            }
        }
    }

    /// The config of `client_id` in `domain_id`.
    pub async fn get(&self, domain_id: &str, client_id: &str) -> Result<Option<Config>> {
        let sql = "SELECT * FROM bootstrap_configs WHERE client_id = $1 AND domain_id = $2";
        self.find(sql, &[client_id, domain_id]).await
    }

    /// The config of `client_id` in any domain (a client has at most one).
    pub async fn get_any(&self, client_id: &str) -> Result<Option<Config>> {
        let sql = "SELECT * FROM bootstrap_configs WHERE client_id = $1";
        self.find(sql, &[client_id]).await
    }

    /// The config a device names by its external id and the keyed hash of its
    /// external key (auth's `hash_secret`): at most one, by the unique
    /// `(external_id, external_key_hash)` index. External ids alone are unique only
    /// per domain.
    pub async fn by_external_key(
        &self,
        external_id: &str,
        key_hash: &str,
    ) -> Result<Option<Config>> {
        let sql =
            "SELECT * FROM bootstrap_configs WHERE external_id = $1 AND external_key_hash = $2";
        self.find(sql, &[external_id, key_hash]).await
    }

    /// The one config `sql` selects with `keys` bound as `$1`, `$2`, ..., with its
    /// channels.
    async fn find(&self, sql: &str, keys: &[&str]) -> Result<Option<Config>> {
        let c = magnetite_db::db_read!(self.db(), pool => {
            let mut query = sqlx::query(sql);
            for key in keys {
                query = query.bind(*key);
            }
            query.fetch_optional(pool).await?.as_ref().map(config_from_row).transpose()?
        });
        self.with_channels(c).await
    }

    /// Up to `limit` configs (any domain, channels not loaded) with this external id:
    /// the domains a failed device attempt is reported to.
    pub async fn with_external_id(&self, external_id: &str, limit: i64) -> Result<Vec<Config>> {
        magnetite_db::db_read!(self.db(), pool => {
            let rows = sqlx::query(
                "SELECT * FROM bootstrap_configs WHERE external_id = $1 \
                 ORDER BY created_at, client_id LIMIT $2",
            )
            .bind(external_id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(config_from_row).collect()
        })
    }

    /// Whether `domain_id` has a config with this external id.
    pub async fn external_id_in_domain(&self, domain_id: &str, external_id: &str) -> Result<bool> {
        magnetite_db::db_read!(self.db(), pool => {
            let n = sqlx::query(
                "SELECT COUNT(*) AS n FROM bootstrap_configs WHERE domain_id = $1 AND external_id = $2",
            )
            .bind(domain_id)
            .bind(external_id)
            .fetch_one(pool)
            .await?
            .int("n")?;
            Ok(n > 0)
        })
    }

    /// A page of the domain's configs (oldest first) that `readable` lets the caller
    /// see, and the total that match; both from one snapshot and one condition.
    pub async fn list(
        &self,
        domain_id: &str,
        f: &ListFilter,
        readable: &ReadableClients,
    ) -> Result<(u64, Vec<Config>)> {
        let pattern = f.name.as_deref().map(like_pattern).unwrap_or_default();
        let state = f.state.unwrap_or(-1);
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(f.offset).unwrap_or(i64::MAX);
        let (only, binds) = readable.sql("client_id", 3).unwrap_or_default();
        let only = if only.is_empty() {
            only
        } else {
            format!(" AND {only}")
        };
        let filter = format!(
            "FROM bootstrap_configs WHERE domain_id = $1 \
             AND ($2 = '' OR LOWER(name) LIKE $2 ESCAPE '\\') AND ($3 < 0 OR state = $3){only}"
        );
        let count_sql = format!("SELECT COUNT(*) AS n {filter}");
        let (l, o) = (binds.len() + 4, binds.len() + 5);
        let page_sql =
            format!("SELECT * {filter} ORDER BY created_at, client_id LIMIT ${l} OFFSET ${o}");
        let (total, configs) = magnetite_db::db_snapshot!(self.db(), tx => {
            let mut count = sqlx::query(&count_sql).bind(domain_id).bind(&pattern).bind(state);
            let mut page = sqlx::query(&page_sql).bind(domain_id).bind(&pattern).bind(state);
            for b in &binds {
                count = count.bind(b);
                page = page.bind(b);
            }
            let total = count.fetch_one(&mut *tx).await?.int("n")?;
            let rows = page.bind(limit).bind(offset).fetch_all(&mut *tx).await?;
            let configs = rows.iter().map(config_from_row).collect::<Result<Vec<_>>>()?;
            (total, configs)
        });
        let mut out = Vec::with_capacity(configs.len());
        for c in configs {
            out.extend(self.with_channels(Some(c)).await?);
        }
        Ok((u64::try_from(total).unwrap_or(0), out))
    }

    /// Replaces the channel list of `c` with `c.channels`.
    pub async fn replace_channels(&self, c: &Config, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            let done = sqlx::query(
                "UPDATE bootstrap_configs SET updated_at = $3 WHERE client_id = $1 AND domain_id = $2",
            )
            .bind(&c.client_id)
            .bind(&c.domain_id)
            .bind(&c.updated_at)
            .execute(&mut *tx)
            .await?;
            not_found(done.rows_affected())?;
            sqlx::query("DELETE FROM bootstrap_channels WHERE client_id = $1")
                .bind(&c.client_id)
                .execute(&mut *tx)
                .await?;
            insert_channels!(tx, c);
            tx.append_in(ev, &c.domain_id).await?;
        });
        Ok(())
    }

    /// Writes name, content and `updated_at` of `c`.
    pub async fn update_info(&self, c: &Config, ev: &Event) -> Result<()> {
        let columns = [
            ("name", Val::Text(&c.name)),
            ("content", Val::Text(&c.content)),
        ];
        self.update_config(c, &columns, ev).await
    }

    /// Writes the certificate, the sealed private key and the CA of `c`.
    pub async fn update_certs(&self, c: &Config, ev: &Event) -> Result<()> {
        let columns = [
            ("client_cert", Val::Text(&c.client_cert)),
            ("client_key_sealed", Val::Text(&c.client_key_sealed)),
            ("ca_cert", Val::Text(&c.ca_cert)),
        ];
        self.update_config(c, &columns, ev).await
    }

    /// Writes the whitelist state of `c`.
    pub async fn set_state(&self, c: &Config, ev: &Event) -> Result<()> {
        let columns = [("state", Val::Int(c.state.as_i64()))];
        self.update_config(c, &columns, ev).await
    }

    /// Writes `columns` and `updated_at` of the config `c` with its event in one
    /// transaction; 404 when the domain has no such config. Column names are this
    /// file's constants, never input.
    async fn update_config(
        &self,
        c: &Config,
        columns: &[(&str, Val<'_>)],
        ev: &Event,
    ) -> Result<()> {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let sql = format!(
            "UPDATE bootstrap_configs SET {} WHERE client_id = $1 AND domain_id = $2",
            set_clause(&names)
        );
        magnetite_db::db_tx!(self.db(), tx => {
            let mut query = sqlx::query(&sql).bind(&c.client_id).bind(&c.domain_id);
            for (_, value) in columns {
                query = match *value {
                    Val::Text(text) => query.bind(text),
                    Val::Int(int) => query.bind(int),
                };
            }
            let done = query.bind(&c.updated_at).execute(&mut *tx).await?;
            not_found(done.rows_affected())?;
            tx.append_in(ev, &c.domain_id).await?;
        });
        Ok(())
    }

    /// Deletes the config of `client_id` in `domain_id` with its channels.
    pub async fn delete(&self, domain_id: &str, client_id: &str, ev: &Event) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            let done = sqlx::query(
                "DELETE FROM bootstrap_configs WHERE client_id = $1 AND domain_id = $2",
            )
            .bind(client_id)
            .bind(domain_id)
            .execute(&mut *tx)
            .await?;
            not_found(done.rows_affected())?;
            sqlx::query("DELETE FROM bootstrap_channels WHERE client_id = $1")
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
            tx.append_in(ev, domain_id).await?;
        });
        Ok(())
    }
}

/// `a = $3, b = $4, updated_at = $5` for the columns `[a, b]`: `$1` and `$2` name the
/// config, `updated_at` always changes with it.
fn set_clause(names: &[&str]) -> String {
    let set: Vec<String> = (names.iter().copied().chain(["updated_at"]))
        .enumerate()
        .map(|(i, name)| format!("{name} = ${}", i + 3))
        .collect();
    set.join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_set_clause_numbers_after_the_key_and_ends_with_updated_at() {
        assert_eq!(
            super::set_clause(&["name", "content"]),
            "name = $3, content = $4, updated_at = $5"
        );
        assert_eq!(super::set_clause(&[]), "updated_at = $3");
    }
}
