//! Redis Streams sink: `XADD <prefix>.<service> MAXLEN ~ N * field value ...`, one
//! MULTI/EXEC pipeline per batch so a batch lands whole or not at all.

use super::{Prepared, SinkContext};
use crate::encode::redis_fields;
use crate::error::EventsError;
use redis::aio::MultiplexedConnection;

/// Redis Streams sink state.
pub struct RedisSink {
    client: redis::Client,
    conn: Option<MultiplexedConnection>,
    ctx: SinkContext,
}

impl RedisSink {
    /// Parses the URL (no connection yet).
    pub fn new(url: &str, ctx: SinkContext) -> Result<Self, EventsError> {
        let client = redis::Client::open(url).map_err(|e| EventsError::sink(&ctx.label, e))?;
        Ok(RedisSink {
            client,
            conn: None,
            ctx,
        })
    }

    async fn conn(&mut self) -> Result<&mut MultiplexedConnection, EventsError> {
        if self.conn.is_none() {
            let c = self
                .client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| EventsError::sink(&self.ctx.label, e))?;
            self.conn = Some(c);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| EventsError::sink(&self.ctx.label, "no connection"))
    }

    /// XADDs the batch atomically.
    pub async fn ship(&mut self, batch: &[Prepared]) -> Result<(), EventsError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for ev in batch {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(self.ctx.names.stream(&ev.service))
                .arg("MAXLEN")
                .arg("~")
                .arg(self.ctx.maxlen)
                .arg("*");
            for (k, v) in redis_fields(&ev.fields) {
                cmd.arg(k).arg(v);
            }
            pipe.add_command(cmd);
        }
        let label = self.ctx.label.clone();
        let conn = self.conn().await?;
        let _: redis::Value = pipe
            .query_async(conn)
            .await
            .map_err(|e| EventsError::sink(&label, e))?;
        Ok(())
    }

    /// Forgets the connection.
    pub fn reset(&mut self) {
        self.conn = None;
    }
}

impl RedisSink {
    /// Stream / subject names this sink uses.
    pub fn names(&self) -> &crate::encode::Names {
        &self.ctx.names
    }
}
