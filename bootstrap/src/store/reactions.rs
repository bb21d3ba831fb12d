//! What the rest of the platform's changes do to configs, and the tailer's cursor name.
//!
//! Every reaction is idempotent (it matches on ids and only emits its event when a row
//! actually changed), so a row of the `clients` stream seen twice — after a crash
//! before the cursor was saved, or after a failed reaction in the same window — changes nothing
//! the second time.

use magnetite_events::model::bootstrap as bev;
use serde_json::Value;

use super::{Cols, ConfigStore, Outbox, Result};

/// The domain of a channel named in configs (a channel lives in one domain, and only
/// configs of that domain can name it), for the scope of the handler events.
const CHANNEL_DOMAIN: &str = "SELECT c.domain_id FROM bootstrap_channels ch \
     JOIN bootstrap_configs c ON c.client_id = ch.client_id WHERE ch.channel_id = $1 LIMIT 1";

/// Cursor row name of the `clients` stream tailer. Kept with the event shippers'
/// cursors, so outbox retention never prunes what the tailer has not read.
pub(crate) const TAILER_CURSOR: &str = "#bootstrap:clients";

impl ConfigStore {
    /// A client was deleted: its config goes too (`config.remove_handler`).
    pub async fn remove_for_client(&self, client_id: &str) -> Result<bool> {
        let ev = bev::config_remove_handler(client_id);
        let removed = magnetite_db::db_tx!(self.db(), tx => {
            let gone = sqlx::query("DELETE FROM bootstrap_configs WHERE client_id = $1 RETURNING domain_id")
                .bind(client_id)
                .fetch_optional(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM bootstrap_channels WHERE client_id = $1")
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
            if let Some(row) = &gone {
                tx.append_in(&ev, &row.text("domain_id")?).await?;
            }
            gone.is_some()
        });
        Ok(removed)
    }

    /// A channel was deleted: it leaves every config naming it
    /// (`channel.remove_handler`).
    pub async fn remove_channel(&self, channel_id: &str) -> Result<bool> {
        let ev = bev::channel_remove_handler(channel_id);
        let removed = magnetite_db::db_tx!(self.db(), tx => {
            let domain = sqlx::query(CHANNEL_DOMAIN)
                .bind(channel_id)
                .fetch_optional(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM bootstrap_channels WHERE channel_id = $1")
                .bind(channel_id)
                .execute(&mut *tx)
                .await?;
            let removed = done.rows_affected() > 0;
            if let (true, Some(row)) = (removed, &domain) {
                tx.append_in(&ev, &row.text("domain_id")?).await?;
            }
            removed
        });
        Ok(removed)
    }

    /// A channel changed: the cached name and metadata in configs follow
    /// (`channel.update_handler`). `None` keeps the cached value.
    pub async fn update_channel(
        &self,
        channel_id: &str,
        name: Option<&str>,
        metadata: Option<&Value>,
    ) -> Result<bool> {
        let meta_text = metadata.map(Value::to_string);
        let changed = magnetite_db::db_tx!(self.db(), tx => {
            let done = sqlx::query(
                "UPDATE bootstrap_channels SET name = COALESCE($2, name), \
                 metadata = COALESCE($3, metadata) WHERE channel_id = $1 \
                 AND (name <> COALESCE($2, name) OR metadata <> COALESCE($3, metadata))",
            )
            .bind(channel_id)
            .bind(name)
            .bind(&meta_text)
            .execute(&mut *tx)
            .await?;
            let changed = done.rows_affected() > 0;
            if changed {
                let row = sqlx::query(
                    "SELECT name, metadata FROM bootstrap_channels WHERE channel_id = $1 LIMIT 1",
                )
                .bind(channel_id)
                .fetch_one(&mut *tx)
                .await?;
                let meta = super::parse_metadata(&row.text("metadata")?);
                let ev = bev::channel_update_handler(channel_id, &row.text("name")?, &meta);
                let domain = sqlx::query(CHANNEL_DOMAIN)
                    .bind(channel_id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.append_in(&ev, &domain.text("domain_id")?).await?;
            }
            changed
        });
        Ok(changed)
    }
}
