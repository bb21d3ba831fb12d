//! The consumer operations: create, fetch (batch and stream), acknowledge, delete, and
//! the access check every fetch repeats.

use magnetite_auth::access::{Caller, Need};
use magnetite_auth::model::Kind;
use magnetite_events::http::event_body;
use magnetite_events::model::now_ns;
use magnetite_events::scopes::{fetch_ids, fetch_scoped, last_id_before, ScopeFilter};
use magnetite_events::{OutboxDb, OutboxRow};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{hidden, ConsumerError};
use crate::model::{Consumer, NamedStart, Reply, StartAt, TargetKind};
use crate::ConsumerService;

type Result<T> = std::result::Result<T, ConsumerError>;

/// Largest batch.
pub const MAX_BATCH: i64 = 1000;
/// Most replies one acknowledgement takes.
pub const MAX_REPLIES: usize = 1000;

/// `POST /consumers`.
#[derive(Debug, Deserialize)]
pub struct NewConsumer {
    pub target: TargetKind,
    pub id: String,
    #[serde(default)]
    pub include_subresources: bool,
    pub start: Option<StartAt>,
}

/// What `POST /consumers/acknowledge` answers.
#[derive(Debug, Default)]
pub struct AckOutcome {
    pub accepted: Vec<String>,
    pub refused: Vec<String>,
}

impl ConsumerService {
    /// Creates a consumer of `caller` on a target it may read (404 otherwise).
    pub async fn create(&self, caller: &Caller, req: NewConsumer) -> Result<String> {
        if req.id.is_empty() || req.id.len() > 64 {
            return Err(ConsumerError::BadRequest(
                "id must be 1 to 64 characters".into(),
            ));
        }
        let mut consumer = Consumer {
            id: uuid::Uuid::new_v4().to_string(),
            owner_id: caller.id().to_string(),
            target: req.target,
            target_id: req.id,
            subresources: req.include_subresources,
            cursor: 0,
        };
        self.authorize(caller, &consumer).await?;
        consumer.cursor = self.start_cursor(req.start).await?;
        let max = i64::try_from(self.config.max_per_user).unwrap_or(i64::MAX);
        self.store.insert(&consumer, now_ns(), max).await?;
        Ok(consumer.id)
    }

    async fn start_cursor(&self, start: Option<StartAt>) -> Result<i64> {
        let db = self.store.db();
        Ok(match start.unwrap_or(StartAt::Named(NamedStart::All)) {
            StartAt::Named(NamedStart::All) => 0,
            StartAt::Named(NamedStart::New) => db.max_id().await?,
            StartAt::Sequence { sequence } if sequence >= 1 => sequence - 1,
            StartAt::Sequence { .. } => {
                return Err(ConsumerError::BadRequest(
                    "sequence must be at least 1".into(),
                ))
            }
            StartAt::Time { time } => {
                let at = chrono::DateTime::parse_from_rfc3339(&time)
                    .map_err(|_| ConsumerError::BadRequest("time must be RFC 3339".into()))?;
                let ns = at.timestamp_nanos_opt().unwrap_or(i64::MAX);
                last_id_before(db, ns).await?
            }
        })
    }

    /// Which rows the consumer may see, if its owner may still read the target; 404
    /// when the target is gone or no longer readable (removed from the domain).
    pub(crate) async fn authorize(&self, caller: &Caller, c: &Consumer) -> Result<ScopeFilter> {
        let platform = &self.platform;
        let kind = match c.target {
            TargetKind::User => {
                return if caller.id() == c.target_id || caller.is_admin() {
                    Ok(ScopeFilter::User(c.target_id.clone()))
                } else {
                    Err(ConsumerError::NotFound)
                };
            }
            TargetKind::Domain => {
                let d = caller
                    .domain(platform, &c.target_id, Need::Read)
                    .await
                    .map_err(hidden)?;
                return Ok(match c.subresources {
                    true => ScopeFilter::WholeDomain(d.id),
                    false => ScopeFilter::Entity {
                        entity: d.id.clone(),
                        domain: d.id,
                        subresources: false,
                    },
                });
            }
            TargetKind::Group => Kind::Group,
            TargetKind::Channel => Kind::Channel,
            TargetKind::Client => Kind::Client,
        };
        let domain = platform.store.entity_domain(kind, &c.target_id).await?;
        let domain = domain.ok_or(ConsumerError::NotFound)?;
        caller
            .domain(platform, &domain, Need::Read)
            .await
            .map_err(hidden)?;
        Ok(ScopeFilter::Entity {
            entity: c.target_id.clone(),
            domain,
            subresources: c.subresources,
        })
    }

    /// The consumer `id` of `caller` (404 for anyone else's).
    pub(crate) async fn owned(&self, caller: &Caller, id: &str) -> Result<Consumer> {
        self.store
            .owned(id, caller.id())
            .await?
            .ok_or(ConsumerError::NotFound)
    }

    /// At most `size` deliveries: due redeliveries first, then new events in scope, never
    /// more pending than the bound. Access is checked first, every time.
    pub async fn fetch(&self, caller: &Caller, id: &str, size: i64) -> Result<Vec<Value>> {
        if !(1..=MAX_BATCH).contains(&size) {
            return Err(ConsumerError::BadRequest(format!(
                "size must be between 1 and {MAX_BATCH}"
            )));
        }
        let c = self.owned(caller, id).await?;
        let filter = self.authorize(caller, &c).await?;
        let now = now_ns();
        self.store.touch(&c.id, now).await?;
        let mut out = self.redeliveries(&c, size, now).await?;
        let room = (size - out.len() as i64)
            .min(self.config.max_pending as i64 - self.store.pending_count(&c.id).await?);
        if room > 0 {
            out.extend(self.fresh(&c, &filter, room, now).await?);
        }
        out.sort_by_key(|(row, _)| row.id);
        Ok(out
            .iter()
            .map(|(row, reply)| self.render(row, reply, caller))
            .collect())
    }

    async fn redeliveries(
        &self,
        c: &Consumer,
        size: i64,
        now: i64,
    ) -> Result<Vec<(OutboxRow, Reply)>> {
        let wait = i64::try_from(self.config.ack_wait.as_nanos()).unwrap_or(i64::MAX);
        let due = self
            .store
            .due(&c.id, now.saturating_sub(wait), size)
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let positions: Vec<i64> = due.iter().map(|d| d.position).collect();
        let rows = fetch_ids(self.store.db(), &positions).await?;
        let gone: Vec<i64> = positions
            .iter()
            .copied()
            .filter(|p| !rows.iter().any(|r| r.id == *p))
            .collect();
        self.store.drop_pending(&c.id, &gone).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (row, old) in rows
            .into_iter()
            .zip(due.iter().filter(|d| !gone.contains(&d.position)))
        {
            let reply = Reply::fresh(&c.id, row.id);
            if self.store.redeliver(old, &reply, now).await? {
                out.push((row, reply));
            }
        }
        Ok(out)
    }

    async fn fresh(
        &self,
        c: &Consumer,
        filter: &ScopeFilter,
        room: i64,
        now: i64,
    ) -> Result<Vec<(OutboxRow, Reply)>> {
        let horizon = *self.horizon.borrow();
        if horizon <= c.cursor {
            return Ok(Vec::new());
        }
        let rows = fetch_scoped(self.store.db(), filter, c.cursor, horizon, room).await?;
        // Fewer rows than asked: everything up to the horizon has been looked at.
        let to = match rows.last() {
            Some(last) if rows.len() as i64 == room => last.id,
            _ => horizon,
        };
        let replies: Vec<Reply> = rows.iter().map(|r| Reply::fresh(&c.id, r.id)).collect();
        if !self
            .store
            .advance(&c.id, c.cursor, to, &replies, now)
            .await?
        {
            return Ok(Vec::new());
        }
        Ok(rows.into_iter().zip(replies).collect())
    }

    fn render(&self, row: &OutboxRow, reply: &Reply, caller: &Caller) -> Value {
        json!({
            "position": row.id,
            "stream": self.names.stream(&row.stream),
            "occurred_at": row.created_at,
            "event": event_body(&self.names, row),
            "reply": reply.sign(&self.platform.keys, caller.id()),
        })
    }

    /// Acknowledges each reply that is validly signed for `caller`, names a consumer of
    /// theirs and the latest delivery of a pending position; the rest are refused and
    /// change nothing.
    pub async fn acknowledge(&self, caller: &Caller, replies: Vec<String>) -> Result<AckOutcome> {
        if replies.len() > MAX_REPLIES {
            return Err(ConsumerError::BadRequest(format!(
                "at most {MAX_REPLIES} replies"
            )));
        }
        let mut outcome = AckOutcome::default();
        // Signatures first (no database), then one transaction for the valid ones.
        let (mut signed, mut valid) = (Vec::new(), Vec::new());
        for text in replies {
            match Reply::verify(&text, &self.platform.keys, caller.id()) {
                Ok(reply) => {
                    signed.push(text);
                    valid.push(reply);
                }
                Err(_) => outcome.refused.push(text),
            }
        }
        let done = self.store.acknowledge_all(&valid, caller.id()).await?;
        for (text, ok) in signed.into_iter().zip(done) {
            match ok {
                true => outcome.accepted.push(text),
                false => outcome.refused.push(text),
            }
        }
        Ok(outcome)
    }

    /// Deletes a consumer of `caller` (404 for anyone else's).
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        match self.store.delete(id, caller.id()).await? {
            true => Ok(()),
            false => Err(ConsumerError::NotFound),
        }
    }
}
