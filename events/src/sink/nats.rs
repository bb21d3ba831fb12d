//! NATS JetStream sink: subject `events.<prefix>.<service>` in stream `events`
//! (subjects `events.>`, created if missing). Each publish waits for its ack before the
//! next, so a failure never reorders events; `Nats-Msg-Id` = `<epoch>-<outbox id>` lets
//! JetStream drop the copy a retry may produce (dedup window, 2 min by default).

use super::{Prepared, SinkContext};
use crate::encode::json_bytes;
use crate::error::EventsError;
use crate::url::StoreUrl;
use async_nats::jetstream::{self, stream};

/// NATS JetStream sink state.
pub struct NatsSink {
    url: StoreUrl,
    js: Option<jetstream::Context>,
    ctx: SinkContext,
}

impl NatsSink {
    /// Keeps the parsed URL (no connection yet).
    pub fn new(url: StoreUrl, ctx: SinkContext) -> Self {
        NatsSink { url, js: None, ctx }
    }

    fn err(&self, e: impl std::fmt::Display) -> EventsError {
        EventsError::sink(&self.ctx.label, e)
    }

    async fn context(&mut self) -> Result<jetstream::Context, EventsError> {
        if let Some(js) = &self.js {
            return Ok(js.clone());
        }
        let mut opts =
            async_nats::ConnectOptions::new().connection_timeout(std::time::Duration::from_secs(5));
        if let (Some(u), Some(p)) = (&self.url.user, &self.url.password) {
            opts = opts.user_and_password(u.clone(), p.clone());
        }
        let addr = format!("{}:{}", self.url.host, self.url.port);
        let client = opts.connect(addr).await.map_err(|e| self.err(e))?;
        let js = jetstream::new(client);
        js.get_or_create_stream(stream::Config {
            name: "events".to_string(),
            subjects: vec!["events.>".to_string()],
            ..Default::default()
        })
        .await
        .map_err(|e| self.err(e))?;
        self.js = Some(js.clone());
        Ok(js)
    }

    /// Publishes the batch in order, each acknowledged by JetStream.
    pub async fn ship(&mut self, batch: &[Prepared]) -> Result<(), EventsError> {
        let js = self.context().await?;
        for ev in batch {
            let mut headers = async_nats::HeaderMap::new();
            let msg_id = format!("{}-{}", self.ctx.epoch, ev.id);
            headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id.as_str());
            let subject = self.ctx.names.subject(&ev.service);
            let ack = js
                .publish_with_headers(subject, headers, json_bytes(&ev.fields).into())
                .await
                .map_err(|e| self.err(e))?;
            ack.await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Forgets the connection (a new one is made on the next attempt).
    pub fn reset(&mut self) {
        self.js = None;
    }
}

impl NatsSink {
    /// Stream / subject names this sink uses.
    pub fn names(&self) -> &crate::encode::Names {
        &self.ctx.names
    }
}
