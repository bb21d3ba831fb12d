//! The end of a connection: will message, session hand-back or discard (through
//! [`Shared`](crate::broker::Shared)), hooks.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::io::Io;
use super::{Connection, Exit};
use crate::hooks::Hooks;
use crate::will;

impl<H: Hooks, S: Io> Connection<H, S> {
    pub(super) async fn finish(mut self, exit: Exit) {
        // Offline first: from here on QoS 0 is no longer queued for this session.
        self.session.set_online(false);
        if !self.wbuf.is_empty() {
            // A DISCONNECT with the reason, or acks queued before the end.
            let _ = self.flush().await;
        }
        // After a client's DISCONNECT the client closes first (spec 3.14.4), which keeps
        // TIME_WAIT on its side: a broker that closed first would hold a TIME_WAIT socket
        // per disconnect and make reconnecting clients that reuse the port stall in SYN
        // retries. In every other case we close now.
        let client_closes = matches!(exit, Exit::ClientDisconnect { .. });
        if !client_closes {
            let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
        }
        let publish_will = match exit {
            Exit::ClientDisconnect { with_will } => with_will,
            Exit::Shutdown => false,
            _ => true,
        };
        let will = self.will.take().filter(|_| publish_will);
        let shared = Arc::clone(&self.shared);
        let session = Arc::clone(&self.session);
        let state = std::mem::take(&mut self.state);
        if self.session_expiry == 0 {
            shared.discard_session(&session, &state);
            if let Some(will) = will {
                will::publish_now(&shared, &will);
            }
        } else {
            session.put_state(state);
            let pending_will = will.and_then(|will| {
                will::publish_or_schedule(&shared, &session, &will, self.session_expiry)
            });
            let expiry = self.session_expiry;
            session.with_link(|link| {
                link.meta.offline_since = Some(crate::persist::unix_now());
                link.meta.expiry = expiry;
                link.meta.will = pending_will;
                link.write_meta();
            });
            if self.session_expiry != u32::MAX {
                shared.schedule_expiry(&session, self.session_expiry);
            }
        }
        // Only now, with the state back, let a waiting takeover proceed.
        self.session.release();
        if let Some(done) = self.pending_done.take() {
            let _ = done.send(());
        }
        shared.hooks.on_disconnect(
            &self.identity,
            &self.client_id,
            exit.hook_reason(),
            self.traffic,
        );
        tracing::debug!(client_id = %self.client_id, ?exit, "client disconnected");
        if client_closes || matches!(exit, Exit::Violation(_) | Exit::NotAuthorized) {
            self.linger().await;
        }
    }

    /// After we closed our side on a client still talking, read and discard until it
    /// closes too (bounded): closing a socket with unread input makes the kernel send a
    /// reset, which can destroy the DISCONNECT carrying the reason before it is read.
    async fn linger(&mut self) {
        let drain = async {
            loop {
                self.rbuf.clear();
                match self.io.read_into(&mut self.rbuf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }
}
