//! NATS JetStream sink: subject `events.<prefix>.<service>` in stream `events`
//! (subjects `events.>`, created if missing). Each publish waits for its ack before the
//! next, so a failure never reorders events; `Nats-Msg-Id` = `<epoch>-<outbox id>` lets
//! JetStream drop the copy a retry may produce (dedup window, 2 min by default).
//! Kaa rows ([`crate::kaa`]) are published on their own subjects as Avro, captured by
//! the stream `kaa-events` (subjects `kaa.v1.events.>`) so they are acknowledged too.

use super::{Prepared, SinkContext};
use crate::encode::json_bytes;
use crate::error::EventsError;
use crate::url::StoreUrl;
use async_nats::jetstream::{self, stream};

/// NATS JetStream sink state.
pub struct NatsSink {
    url: StoreUrl,
    js: Option<jetstream::Context>,
    /// The `kaa-events` stream was made sure of on this connection.
    kaa_stream: bool,
    ctx: SinkContext,
}

/// The JetStream stream that captures Kaa subjects, so each Kaa publish is
/// acknowledged (core NATS subscribers of `kaa.v1.events.>` still see every message).
const KAA_STREAM: &str = "kaa-events";
const KAA_SUBJECTS: &str = "kaa.v1.events.>";

impl NatsSink {
    /// Keeps the parsed URL (no connection yet).
    pub fn new(url: StoreUrl, ctx: SinkContext) -> Self {
        NatsSink {
            url,
            js: None,
            kaa_stream: false,
            ctx,
        }
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
        self.kaa_stream = false;
        Ok(js)
    }

    /// Creates the Kaa stream on first use (only deployments with Kaa events get it).
    async fn ensure_kaa_stream(&mut self, js: &jetstream::Context) -> Result<(), EventsError> {
        if self.kaa_stream {
            return Ok(());
        }
        js.get_or_create_stream(stream::Config {
            name: KAA_STREAM.to_string(),
            subjects: vec![KAA_SUBJECTS.to_string()],
            ..Default::default()
        })
        .await
        .map_err(|e| self.err(e))?;
        self.kaa_stream = true;
        Ok(())
    }

    /// Publishes the batch in order, each acknowledged by JetStream.
    pub async fn ship(&mut self, batch: &[Prepared]) -> Result<(), EventsError> {
        let js = self.context().await?;
        for ev in batch {
            let mut headers = async_nats::HeaderMap::new();
            let msg_id = format!("{}-{}", self.ctx.epoch, ev.id);
            headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id.as_str());
            let (subject, body) = match &ev.kaa {
                Some(kaa) => {
                    self.ensure_kaa_stream(&js).await?;
                    (kaa.subject.clone(), kaa.body.clone())
                }
                None => (self.ctx.names.subject(&ev.service), json_bytes(&ev.fields)),
            };
            let ack = js
                .publish_with_headers(subject, headers, body.into())
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
