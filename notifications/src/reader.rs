//! The outbox reader that makes notifications: one more [`OutboxReader`] with its own
//! cursor (`#notifications`), like the event shippers and the bootstrap tailer. The
//! writing paths pay nothing: auth writes its events as always and this task reads
//! them after the fact.
//!
//! Exactly once, in effect: the cursor is saved after a window's notifications are
//! stored, so a crash in between re-reads the window; but the notifications are stored
//! together with the last row they cover (`notification_progress`, `crate::store`), and
//! rows up to it are passed over, so the re-read makes nothing twice. The first start begins at
//! the end of the outbox (saved by [`crate::NotificationService::start`] before any
//! request is served): history from before the feature existed is not notified. On a
//! shared PostgreSQL one instance reads, the others stand by.

use std::sync::Arc;
use std::time::Duration;

use magnetite_auth::Platform;
use magnetite_db::Db;
use magnetite_events::reader::{Batch, OutboxReader, ReaderConfig, Rows, Start, WindowHandler};
use magnetite_events::OutboxRow;
use tokio::sync::watch;

use crate::derive::{self, Intent};
use crate::error::Result;
use crate::model::{Draft, Ref, Variant};
use crate::resolve::{self, label};
use crate::{store, Counters};

/// Cursor row name (kept with the shippers' cursors: retention never prunes what this
/// reader has not read).
pub(crate) const CURSOR: &str = "#notifications";
/// Lease name among instances sharing a PostgreSQL.
const LEASE: &str = "#notifications-reader";
/// Rows per read.
const BATCH: i64 = 500;
/// Pause when the outbox is drained.
const POLL: Duration = Duration::from_millis(200);

/// Reads the outbox until `stop` turns true.
pub(crate) struct NoticeReader {
    pub(crate) db: Db,
    pub(crate) platform: Arc<Platform>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) max_per_user: u32,
    pub(crate) stop: watch::Receiver<bool>,
}

/// A window of the outbox as the notifications reader handles it: `done` is the
/// position whose notifications are already stored (rows up to it are passed over).
struct Window<'a> {
    reader: &'a NoticeReader,
    done: i64,
}

impl WindowHandler for Window<'_> {
    type Error = crate::error::NotificationsError;
    async fn handle(&mut self, batch: &Batch, pending: i64) -> Result<()> {
        self.reader.counters.set_lag(pending);
        self.done = self.reader.handle(batch, self.done).await?;
        Ok(())
    }
}

impl NoticeReader {
    fn reader_config() -> ReaderConfig {
        ReaderConfig {
            cursor_key: CURSOR.to_string(),
            lease_key: LEASE.to_string(),
            rows: Rows::Streams(derive::STREAMS.map(String::from).to_vec()),
            batch: BATCH,
            poll: POLL,
            start: Start::End,
        }
    }

    /// Runs until shutdown.
    pub(crate) async fn run(self) {
        let config = Self::reader_config();
        let Some(mut reader) = OutboxReader::open(self.db.clone(), config, self.stop.clone()).await
        else {
            return;
        };
        tracing::info!(
            cursor = reader.cursor(),
            "notifications: reading the outbox"
        );
        let done = loop {
            match store::outbox_progress(&self.db).await {
                Ok(done) => break done,
                Err(e) => tracing::warn!(error = %e, "notifications: cannot read the progress"),
            }
            let delay = reader.backoff.next_delay();
            if reader.pause(delay).await {
                return;
            }
        };
        reader.backoff.reset();
        let mut window = Window {
            reader: &self,
            done,
        };
        reader.follow("notifications", &mut window).await;
    }

    /// Makes and stores the notifications of the window's rows after `done` (one
    /// transaction); returns the position now stored.
    async fn handle(&self, batch: &Batch, done: i64) -> Result<i64> {
        let mut drafts = Vec::new();
        for row in batch.rows.iter().filter(|r| r.id > done) {
            drafts.extend(self.drafts(row).await?);
        }
        if drafts.is_empty() {
            return Ok(done);
        }
        let through = batch.last.max(done);
        let stored = store::store_outbox(&self.db, through, &drafts, self.max_per_user).await?;
        self.counters.add(stored);
        Ok(through)
    }

    /// The notifications one row causes.
    async fn drafts(&self, row: &OutboxRow) -> Result<Vec<Draft>> {
        let source = format!("outbox:{}", row.id);
        match derive::intent(&row.stream, &row.payload) {
            None => Ok(Vec::new()),
            Some(Intent::Membership {
                variant,
                domain_id,
                users,
                relation,
            }) => {
                let name = resolve::domain_name(&self.platform, &domain_id).await?;
                let text = label(&name, &domain_id);
                let message = derive::membership_message(variant, &text, relation.as_deref());
                let refs = vec![resolve::domain_ref(&name, &domain_id)];
                Ok(to_each(&users, &source, variant, &message, &refs))
            }
            Some(Intent::ClientDisabled { client_id }) => {
                self.client_disabled(&client_id, &source).await
            }
            Some(Intent::Invitation {
                domain_id,
                invitee,
                inviter,
            }) => {
                let name = resolve::domain_name(&self.platform, &domain_id).await?;
                let message = format!("You were invited to domain {}", label(&name, &domain_id));
                let refs = vec![
                    resolve::domain_ref(&name, &domain_id),
                    Ref::new("user", "", &inviter),
                ];
                let variant = Variant::InvitationReceived;
                Ok(to_each(&[invitee], &source, variant, &message, &refs))
            }
        }
    }

    /// A disabled client: its domain's admins as they are now. A client deleted before
    /// this reader saw the disable has no domain any more and is not reported.
    async fn client_disabled(&self, client_id: &str, source: &str) -> Result<Vec<Draft>> {
        let Some((domain_id, client_name)) = resolve::client(&self.platform, client_id).await?
        else {
            return Ok(Vec::new());
        };
        let domain_name = resolve::domain_name(&self.platform, &domain_id).await?;
        let admins = resolve::domain_admins(&self.platform, &domain_id).await?;
        let message = format!(
            "Client {} in domain {} was disabled",
            label(&client_name, client_id),
            label(&domain_name, &domain_id)
        );
        let refs = vec![
            resolve::domain_ref(&domain_name, &domain_id),
            Ref::new("client", &client_name, client_id),
        ];
        let variant = Variant::ClientDisabled;
        Ok(to_each(&admins, source, variant, &message, &refs))
    }
}

/// The same notification for each of `users`.
pub(crate) fn to_each(
    users: &[String],
    source: &str,
    variant: Variant,
    message: &str,
    refs: &[Ref],
) -> Vec<Draft> {
    users
        .iter()
        .map(|user| Draft {
            user_id: user.clone(),
            source: source.to_string(),
            variant,
            message: message.to_string(),
            refs: refs.to_vec(),
        })
        .collect()
}
