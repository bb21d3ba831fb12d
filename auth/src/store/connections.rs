//! Connections (client may publish / subscribe on channel) and the one query the MQTT
//! hot path needs on a cache miss.

use magnetite_events::Event;
use std::sync::Arc;

use super::ancestry::EventAncestry;
pub use super::channel_names::ChannelNames;
use super::{now_rfc3339, Cols, Outbox, Store};
use crate::crypto::SecretMac;
use crate::error::{AuthError, Result};
use crate::model::{ConnType, Role};

/// What MQTT needs to know about a client: loaded once, then served from the cache,
/// which keeps one per connected client. Hence shared strings: the cache shares the
/// client id with its key and the sessions' identities, and the domain's and channels'
/// names with every other cached client of the domain ([`crate::mqtt::cache`]).
#[derive(Debug, Clone)]
pub struct ClientAccess {
    pub client_id: Arc<str>,
    pub domain_id: Arc<str>,
    pub domain_route: Arc<str>,
    /// The stored secret hash, decoded.
    pub secret: SecretMac,
    /// Client and domain both enabled.
    pub enabled: bool,
    /// Created by a platform admin who is still an enabled admin: such a client may
    /// read the broker's `$SYS` tree ([`crate::mqtt::sys`]).
    pub platform_admin: bool,
    /// Channels of the client's own domain (enabled ones only) per connection type.
    pub publish: ChannelNames,
    pub subscribe: ChannelNames,
}

impl ClientAccess {
    /// Replaces each domain and channel name by the copy `share` returns.
    pub fn share_names(&mut self, mut share: impl FnMut(&Arc<str>) -> Arc<str>) {
        self.domain_id = share(&self.domain_id);
        self.domain_route = share(&self.domain_route);
        self.publish.share_names(&mut share);
        self.subscribe.share_names(&mut share);
    }
}

impl Store {
    /// Inserts every (channel, client, type) triple; existing ones are kept.
    pub async fn connect(
        &self,
        domain_id: &str,
        channels: &[String],
        clients: &[String],
        types: &[ConnType],
        ev: &Event,
    ) -> Result<()> {
        let now = now_rfc3339();
        magnetite_db::db_tx!(self.db(), tx => {
            for (table, ids) in [("channels", channels), ("clients", clients)] {
                let sql = format!("SELECT id FROM {table} WHERE id = $1 AND domain_id = $2");
                for id in ids {
                    let found = sqlx::query(&sql).bind(id).bind(domain_id).fetch_optional(&mut *tx).await?;
                    if found.is_none() {
                        return Err(AuthError::NotFound(if table == "channels" { "channel" } else { "client" }));
                    }
                }
            }
            for ch in channels {
                for cl in clients {
                    for t in types {
                        sqlx::query(
                            "INSERT INTO connections (channel_id, client_id, domain_id, type, created_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        )
                        .bind(ch)
                        .bind(cl)
                        .bind(domain_id)
                        .bind(t.as_str())
                        .bind(&now)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            let ev = tx.with_ancestors(ev).await?;
            tx.append_in(&ev, domain_id).await?;
        });
        Ok(())
    }

    pub async fn disconnect(
        &self,
        domain_id: &str,
        channels: &[String],
        clients: &[String],
        types: &[ConnType],
        ev: &Event,
    ) -> Result<()> {
        magnetite_db::db_tx!(self.db(), tx => {
            for ch in channels {
                for cl in clients {
                    for t in types {
                        sqlx::query(
                            "DELETE FROM connections WHERE channel_id = $1 AND client_id = $2 \
                             AND domain_id = $3 AND type = $4",
                        )
                        .bind(ch)
                        .bind(cl)
                        .bind(domain_id)
                        .bind(t.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            let ev = tx.with_ancestors(ev).await?;
            tx.append_in(&ev, domain_id).await?;
        });
        Ok(())
    }

    /// Clients connected to `channel_id` (whose access changes with the channel).
    pub async fn channel_client_ids(&self, channel_id: &str) -> Result<Vec<String>> {
        self.texts(
            "SELECT DISTINCT client_id FROM connections WHERE channel_id = $1",
            channel_id,
            "client_id",
        )
        .await
    }

    /// The client of the domain `domain` (id or route) whose secret hashes to
    /// `secret_hash` (unique per domain), for `Authorization: Client <secret>`, which
    /// names no client id. An id match wins over a route of the same text. Without a
    /// domain (the legacy `channels/<ch>/messages` path) the secret must name exactly
    /// one client of any domain.
    pub async fn client_by_secret(
        &self,
        domain: Option<&str>,
        secret_hash: &str,
    ) -> Result<Option<String>> {
        let Some(domain) = domain else {
            let sql = "SELECT id FROM clients WHERE secret_hash = $1 LIMIT 2";
            let ids = self.texts(sql, secret_hash, "id").await?;
            return Ok(match ids.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            });
        };
        magnetite_db::db_read!(self.db(), pool => {
            let row = sqlx::query(
                "SELECT c.id FROM clients c JOIN domains d ON d.id = c.domain_id \
                 WHERE c.secret_hash = $1 AND (d.id = $2 OR d.route = $2) \
                 ORDER BY CASE WHEN d.id = $2 THEN 0 ELSE 1 END LIMIT 1",
            )
            .bind(secret_hash)
            .bind(domain)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|r| r.text("id")).transpose()?)
        })
    }

    /// Everything MQTT needs about `client_id`, or `None` for an unknown client.
    ///
    /// One statement (a cold connect of a connect storm runs it once): the client and
    /// its domain on every row, one row per connection, `ch_id` NULL for a connection
    /// whose channel is disabled or of another domain — or on the single row of a
    /// client without connections.
    pub async fn client_access(&self, client_id: &str) -> Result<Option<ClientAccess>> {
        // Only channels of the client's own domain: a topic names a channel inside the
        // connecting client's domain and nowhere else.
        const SQL: &str = "SELECT c.domain_id, c.secret_hash, c.status AS cs, d.route, \
             d.status AS ds, (SELECT u.role FROM users u WHERE u.id = c.created_by \
              AND u.status = 'enabled') AS creator_role, \
             ch.id AS ch_id, ch.route AS ch_route, cn.type AS cn_type \
             FROM clients c JOIN domains d ON d.id = c.domain_id \
             LEFT JOIN connections cn ON cn.client_id = c.id \
             LEFT JOIN channels ch ON ch.id = cn.channel_id \
              AND ch.domain_id = c.domain_id AND ch.status = 'enabled' \
             WHERE c.id = $1";
        magnetite_db::db_read!(self.db(), pool => {
            let rows = sqlx::query(SQL).bind(client_id).fetch_all(pool).await?;
            let Some(first) = rows.first() else { return Ok(None) };
            let (mut publish, mut subscribe) = (Vec::new(), Vec::new());
            for r in &rows {
                let Some(channel) = r.opt_text("ch_id")? else { continue };
                let set = match r.opt_text("cn_type")?.as_deref().and_then(ConnType::parse) {
                    Some(ConnType::Publish) => &mut publish,
                    Some(ConnType::Subscribe) => &mut subscribe,
                    None => continue,
                };
                set.push((channel, r.opt_text("ch_route")?));
            }
            let access = ClientAccess {
                client_id: Arc::from(client_id),
                domain_id: Arc::from(first.text("domain_id")?),
                domain_route: Arc::from(first.text("route")?),
                secret: SecretMac::from_hex(&first.text("secret_hash")?),
                enabled: first.text("cs")? == "enabled" && first.text("ds")? == "enabled",
                platform_admin: first.opt_text("creator_role")?.as_deref()
                    == Some(Role::Admin.as_str()),
                publish: publish.into_iter().collect(),
                subscribe: subscribe.into_iter().collect(),
            };
            Ok(Some(access))
        })
    }
}
