//! RabbitMQ Streams sink: a stream per `<prefix>.<service>` (created if missing), one
//! named (deduplicating) producer per stream, publishing id = outbox id, so a retried
//! batch is filtered by the broker instead of stored twice; every batch is confirmed.

use super::{Prepared, SinkContext};
use crate::encode::json_bytes;
use crate::error::EventsError;
use crate::url::StoreUrl;
use rabbitmq_stream_client::error::StreamCreateError;
use rabbitmq_stream_client::types::{Message, ResponseCode};
use rabbitmq_stream_client::{Dedup, Environment, Producer};
use std::collections::HashMap;

/// RabbitMQ Streams sink state.
pub struct RabbitSink {
    url: StoreUrl,
    env: Option<Environment>,
    producers: HashMap<String, Producer<Dedup>>,
    ctx: SinkContext,
}

impl RabbitSink {
    /// Keeps the parsed URL (no connection yet).
    pub fn new(url: StoreUrl, ctx: SinkContext) -> Self {
        RabbitSink {
            url,
            env: None,
            producers: HashMap::new(),
            ctx,
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> EventsError {
        EventsError::sink(&self.ctx.label, e)
    }

    async fn env(&mut self) -> Result<Environment, EventsError> {
        if let Some(env) = &self.env {
            return Ok(env.clone());
        }
        let env = Environment::builder()
            .host(&self.url.host)
            .port(self.url.port)
            .username(self.url.user.as_deref().unwrap_or("guest"))
            .password(self.url.password.as_deref().unwrap_or("guest"))
            .build()
            .await
            .map_err(|e| self.err(e))?;
        self.env = Some(env.clone());
        Ok(env)
    }

    async fn producer(&mut self, stream: &str) -> Result<&mut Producer<Dedup>, EventsError> {
        if !self.producers.contains_key(stream) {
            let env = self.env().await?;
            match env.stream_creator().create(stream).await {
                Ok(()) => {}
                Err(StreamCreateError::Create {
                    status: ResponseCode::StreamAlreadyExists,
                    ..
                }) => {}
                Err(e) => return Err(self.err(e)),
            }
            let name = format!("magnetite-{}-{stream}", self.ctx.epoch);
            let p = env
                .producer()
                .name(&name)
                .build(stream)
                .await
                .map_err(|e| self.err(e))?;
            self.producers.insert(stream.to_string(), p);
        }
        self.producers
            .get_mut(stream)
            .ok_or_else(|| EventsError::sink(&self.ctx.label, "no producer"))
    }

    /// Publishes the batch, grouped in runs of one stream, keeping the outbox order.
    pub async fn ship(&mut self, batch: &[Prepared]) -> Result<(), EventsError> {
        for run in batch.chunk_by(|a, b| a.service == b.service) {
            let stream = self.ctx.names.stream(&run[0].service);
            let msgs: Vec<Message> = run
                .iter()
                .map(|ev| {
                    Message::builder()
                        .body(json_bytes(&ev.fields))
                        .publising_id(ev.id as u64)
                        .build()
                })
                .collect();
            let label = self.ctx.label.clone();
            let producer = self.producer(&stream).await?;
            let statuses = producer
                .batch_send_with_confirm(msgs)
                .await
                .map_err(|e| EventsError::sink(&label, e))?;
            if let Some(bad) = statuses.iter().find(|s| !s.confirmed()) {
                return Err(EventsError::sink(
                    &label,
                    format!(
                        "publish {} not confirmed: {:?}",
                        bad.publishing_id(),
                        bad.status()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Closes producers and forgets the connection.
    pub async fn reset(&mut self) {
        for (_, p) in self.producers.drain() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), p.close()).await;
        }
        self.env = None;
    }
}

impl RabbitSink {
    /// Stream / subject names this sink uses.
    pub fn names(&self) -> &crate::encode::Names {
        &self.ctx.names
    }
}
