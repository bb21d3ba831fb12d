//! One task per connection: it owns the socket, and while connected the session state.
//!
//! The loop waits on four things at once — bytes from the socket, deliveries queued by
//! publishers, a kick (takeover, revocation) and server shutdown — plus one timer for
//! the keep-alive deadline and the idle check. Whatever it decides to send is appended
//! to one write buffer and flushed with a single write before it waits again, so a
//! burst of deliveries costs one syscall. Packet handling lives in one file per packet
//! family (`handle_*.rs`), after mosquitto's layout.
//!
//! An idle TCP connection does not keep its task (`idle.rs`, `park.rs`): after
//! `park_idle_after` with nothing read, delivered, in flight or buffered, the loop
//! returns `Exit::Park`, the connection's parked record (`parked.rs`: no buffers) moves
//! into the broker's parking lot and the task ends. Its socket's readiness, its session's wake signal
//! (deliveries and kicks), the lot's keep-alive sweep and shutdown spawn it again, and
//! it goes on where it stopped. Busy connections never park. WebSocket and TLS
//! connections keep their task (their streams cannot be waited on without a future).
//!
//! What an idle connection costs is pinned by the size tests at the end of this file
//! (`Connection`, `ParkedConnection`, the task future), in `session.rs` (`Session`,
//! `SessionState`) and in `park.rs` (the lot slot).

mod establish;
mod handle_ack;
mod handle_publish;
mod handle_subscribe;
mod idle;
pub mod io;
mod outbound;
pub(crate) mod park;
mod parked;
mod pending_acks;
pub(crate) mod teardown;
mod throttle;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use bytestring::ByteString;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::time::Instant;

pub use establish::{serve_connection, Accepted};

use crate::broker::Shared;
use crate::hooks::{DisconnectReason, Hooks, Traffic};
use crate::message::Delivery;
use crate::protocol::{self, reason, Disconnect, LastWill, Packet, Properties, ProtocolVersion};
use crate::session::{Kick, OwnedSession, SessionState};
use io::Io;

/// Why the loop stopped; decides will handling and what to tell the hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// DISCONNECT from the client; `with_will` for reason 0x04.
    ClientDisconnect {
        with_will: bool,
    },
    Lost,
    KeepAlive,
    Kicked(DisconnectReason),
    /// We closed it for a protocol violation, after sending DISCONNECT with this code (v5).
    Violation(u8),
    NotAuthorized,
    Shutdown,
    /// Idle: the connection leaves its task for the parking lot (see `park`).
    Park,
}

impl Exit {
    fn hook_reason(self) -> DisconnectReason {
        match self {
            Exit::ClientDisconnect { .. } => DisconnectReason::ClientDisconnect,
            Exit::Lost => DisconnectReason::ConnectionLost,
            Exit::KeepAlive => DisconnectReason::KeepAliveTimeout,
            Exit::Kicked(reason) => reason,
            Exit::Violation(_) => DisconnectReason::ProtocolError,
            Exit::NotAuthorized => DisconnectReason::NotAuthorized,
            Exit::Shutdown | Exit::Park => DisconnectReason::ServerShutdown,
        }
    }
}

/// What the client asked for at CONNECT that shapes what we send it.
struct ClientLimits {
    /// Client's Receive Maximum capped by our max in-flight.
    inflight_window: u16,
    /// Client's Maximum Packet Size (v5), if any.
    max_packet_size: Option<u32>,
    /// Aliases we may assign towards the client.
    topic_alias_max: u16,
}

/// 5.0 topic aliases of one connection, both directions.
#[derive(Default)]
struct TopicAliases {
    inbound: HashMap<u16, ByteString>,
    outbound: HashMap<ByteString, u16>,
}

pub(crate) struct Connection<H: Hooks, S: Io> {
    shared: Arc<Shared<H>>,
    io: S,
    rbuf: BytesMut,
    wbuf: BytesMut,
    version: ProtocolVersion,
    client_id: ByteString,
    identity: H::Identity,
    /// Its session, owned by this connection: kicks for it wait in the session.
    session: OwnedSession,
    state: Box<SessionState>,
    will: Option<Box<LastWill>>,
    /// v5 session expiry interval in seconds (3.1.1: 0 for clean, max for persistent).
    session_expiry: u32,
    keep_alive: Duration,
    /// When the client last sent anything (keep-alive counts from here).
    last_read: Instant,
    limits: ClientLimits,
    /// Topic aliases, allocated on first use (most clients never use them).
    aliases: Option<Box<TopicAliases>>,
    /// Acks waiting for their records' fsync (`--persistence sync`), allocated while
    /// any wait.
    acks: Option<Box<pending_acks::PendingAcks>>,
    peer: SocketAddr,
    /// Reused between drains so a delivery burst does not allocate.
    scratch: Vec<Delivery>,
    /// Set when a takeover waits for this connection to hand the session back.
    pending_done: Option<oneshot::Sender<()>>,
    /// Held for the connection's life: one of `max_connections`.
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// What this connection carried, told to the hooks when it ends.
    traffic: Traffic,
}

impl<H: Hooks, S: Io> Connection<H, S> {
    /// Runs the connection until it ends (then hands the session back) or parks.
    async fn run(mut self) {
        loop {
            let exit = self.event_loop().await;
            if exit == Exit::Park {
                let shared = Arc::clone(&self.shared);
                let parked = Box::new(self.into_parked());
                match shared.parking.park(parked, shared.tasks.token()) {
                    Ok(()) => return,
                    // Needed again before it was parked: go on in this task.
                    Err(parked) => self = parked.into_running(),
                }
                continue;
            }
            let shared = Arc::clone(&self.shared);
            Box::pin(self.finish(exit)).await;
            shared.stats.connections.fetch_sub(1, Ordering::Relaxed);
            return;
        }
    }

    async fn event_loop(&mut self) -> Exit {
        let mut shutdown = self.shared.shutdown.subscribe();
        if *shutdown.borrow() {
            // Also a parked connection that the shutdown resumed.
            self.send_disconnect(reason::SERVER_SHUTTING_DOWN);
            let _ = self.flush().await;
            return Exit::Shutdown;
        }
        let park_after = self.park_after();
        let deadline = tokio::time::sleep_until(self.next_check(park_after));
        tokio::pin!(deadline);
        // Resume: resend in-flight messages, then anything queued while offline (or
        // while parked).
        self.resend_inflight();
        if let Err(exit) = self.drain_deliveries() {
            return exit;
        }
        // Something was read or delivered since the last check: not idle.
        let mut busy = false;
        loop {
            if !self.wbuf.is_empty() {
                if let Err(exit) = self.flush().await {
                    return exit;
                }
            }
            tokio::select! {
                biased;
                kick = self.session.kicked(self.session.owner()) => {
                    return Box::pin(self.on_kick(kick)).await;
                }
                _ = shutdown.changed() => {
                    self.send_disconnect(reason::SERVER_SHUTTING_DOWN);
                    let _ = self.flush().await;
                    return Exit::Shutdown;
                }
                progress = pending_acks::acks_progress(&mut self.acks, &self.shared), if self.acks.is_some() => {
                    if let Err(exit) = self.release_acks(progress) {
                        return exit;
                    }
                }
                read = self.io.read_into(&mut self.rbuf) => {
                    match read {
                        Ok(0) | Err(_) => return Exit::Lost,
                        Ok(n) => {
                            self.shared.stats.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
                            self.last_read = Instant::now();
                            busy = true;
                            // Boxed: packet handling is the largest state of this task,
                            // and an idle connection should not carry it.
                            if let Err(exit) = Box::pin(self.process_input()).await {
                                return exit;
                            }
                        }
                    }
                }
                _ = self.session.wait_for_deliveries() => {
                    // The signal may have been a kick that arrived after the kick
                    // branch looked (it registers no waker of its own).
                    if let Some(kick) = self.session.take_kick() {
                        return Box::pin(self.on_kick(kick)).await;
                    }
                    busy = true;
                    if let Err(exit) = self.drain_deliveries() {
                        return exit;
                    }
                }
                _ = &mut deadline, if !self.keep_alive.is_zero() || park_after.is_some() => {
                    if self.keep_alive_expired() {
                        self.send_disconnect(reason::KEEP_ALIVE_TIMEOUT);
                        let _ = self.flush().await;
                        return Exit::KeepAlive;
                    }
                    if !std::mem::take(&mut busy) && self.can_park() {
                        return Exit::Park;
                    }
                    deadline.as_mut().reset(self.next_check(park_after));
                }
            }
        }
    }

    /// Decodes and handles every whole packet in the read buffer.
    async fn process_input(&mut self) -> Result<(), Exit> {
        let max = self.shared.config.max_packet_size as usize;
        let mut yielded = false;
        loop {
            match protocol::decode(&mut self.rbuf, self.version, max) {
                Ok(Some(packet)) => {
                    if !yielded && matches!(packet, Packet::Publish(_)) {
                        // Let connections that became readable before this one go first,
                        // so a SUBSCRIBE sent just before this PUBLISH (on another
                        // socket) is in place when we route: tokio would otherwise run
                        // the most recently woken task first. Once per read batch.
                        tokio::task::yield_now().await;
                        yielded = true;
                    }
                    self.handle_packet(packet).await?
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::debug!(client_id = %self.client_id, peer = %self.peer, error = %err, "malformed packet");
                    let code = err.reason_code();
                    self.send_disconnect(code);
                    let _ = self.flush().await;
                    return Err(Exit::Violation(code));
                }
            }
        }
        if self.rbuf.is_empty() {
            // Release the buffer while idle; decoded packets keep their bytes alive.
            self.rbuf = BytesMut::new();
        }
        Ok(())
    }

    async fn handle_packet(&mut self, packet: Packet) -> Result<(), Exit> {
        match packet {
            Packet::Publish(publish) => self.handle_publish(publish).await,
            Packet::PubAck(ack) => self.handle_puback(ack),
            Packet::PubRec(rec) => self.handle_pubrec(rec),
            Packet::PubRel(rel) => self.handle_pubrel(rel),
            Packet::PubComp(comp) => self.handle_pubcomp(comp),
            Packet::Subscribe(subscribe) => self.handle_subscribe(subscribe).await,
            Packet::Unsubscribe(unsubscribe) => self.handle_unsubscribe(unsubscribe),
            Packet::PingReq => {
                self.write_packet(&Packet::PingResp);
                Ok(())
            }
            Packet::Disconnect(disconnect) => {
                // Everything published before it is answered first (`pending_acks`).
                self.settle_acks(1).await?;
                Err(self.handle_disconnect(disconnect))
            }
            Packet::Connect(_) => Err(self.violation(reason::PROTOCOL_ERROR)),
            Packet::Auth(_) => Err(self.violation(reason::PROTOCOL_ERROR)),
            // Server-to-client packets sent by a client.
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                Err(self.violation(reason::PROTOCOL_ERROR))
            }
        }
    }

    fn handle_disconnect(&mut self, disconnect: Disconnect) -> Exit {
        if let Some(expiry) = disconnect.properties.session_expiry_interval {
            // Spec: a client that connected with expiry 0 may not set a non-zero one now.
            if self.session_expiry == 0 && expiry != 0 {
                return self.violation(reason::PROTOCOL_ERROR);
            }
            self.session_expiry = expiry.min(self.shared.config.max_session_expiry);
        }
        Exit::ClientDisconnect {
            with_will: disconnect.code == reason::DISCONNECT_WITH_WILL,
        }
    }

    /// Queues a v5 DISCONNECT with `code` and returns the matching exit.
    fn violation(&mut self, code: u8) -> Exit {
        self.send_disconnect(code);
        Exit::Violation(code)
    }

    async fn on_kick(&mut self, kick: Kick) -> Exit {
        if let Some(exit) = self.read_before_kick().await {
            // The client ended (or broke) the connection before the takeover: its
            // DISCONNECT decides the will, not the kick.
            if let Some(done) = kick.done {
                self.pending_done = Some(done);
            }
            return exit;
        }
        let code = match kick.reason {
            DisconnectReason::TakenOver => reason::SESSION_TAKEN_OVER,
            DisconnectReason::Revoked => {
                self.session_expiry = 0;
                reason::NOT_AUTHORIZED
            }
            _ => reason::ADMINISTRATIVE_ACTION,
        };
        self.send_disconnect(code);
        let _ = self.flush().await;
        if let Some(done) = kick.done {
            // The new owner waits for the state; hand it over before reporting done.
            self.pending_done = Some(done);
        }
        Exit::Kicked(kick.reason)
    }

    /// Handles input that already arrived when a kick comes. A client that sends
    /// DISCONNECT and reconnects at once has its DISCONNECT waiting in the old socket
    /// when the new connection's takeover kicks it (the select prefers the kick), and
    /// its will must then be discarded [MQTT-3.1.2-10, 3.14.4-3], not published as if
    /// the connection was lost. Only what is readable now is read: the takeover waits.
    async fn read_before_kick(&mut self) -> Option<Exit> {
        let ready = tokio::time::timeout(Duration::ZERO, self.io.read_into(&mut self.rbuf)).await;
        if self.rbuf.is_empty() {
            return None;
        }
        let outcome = self.process_input().await.err();
        match ready {
            Ok(Ok(0)) if outcome.is_none() => Some(Exit::Lost),
            _ => outcome,
        }
    }

    /// v5 only: 3.1.1 has no server DISCONNECT, the socket is simply closed.
    fn send_disconnect(&mut self, code: u8) {
        if self.version.is_v5() {
            let properties = Properties {
                reason_string: Some(reason::describe(code).into()),
                ..Properties::default()
            };
            let packet = Packet::Disconnect(Disconnect { code, properties });
            self.write_packet(&packet);
        }
    }

    fn write_packet(&mut self, packet: &Packet) {
        if !self.fits_client_limit(packet) {
            return self.write_shrunk(packet.clone());
        }
        if let Err(err) = protocol::encode(packet, self.version, &mut self.wbuf) {
            tracing::warn!(client_id = %self.client_id, error = %err, packet = packet.name(), "cannot encode");
        }
    }

    fn fits_client_limit(&self, packet: &Packet) -> bool {
        match self.limits.max_packet_size {
            Some(max) => protocol::encoded_len(packet, self.version) <= max as usize,
            None => true,
        }
    }

    /// Nothing larger than the client's Maximum Packet Size is sent [MQTT-3.1.2-24]: a
    /// Reason String and User Properties go first [MQTT-3.1.2-25]; a CONNACK may lose
    /// its other properties too (all optional; the minimal one is checked at CONNECT).
    /// What still does not fit is not sent.
    fn write_shrunk(&mut self, mut packet: Packet) {
        if let Some(properties) = packet.properties_mut() {
            properties.reason_string = None;
            properties.user_properties.clear();
        }
        if let (false, Packet::ConnAck(ack)) = (self.fits_client_limit(&packet), &mut packet) {
            ack.properties = Properties::default();
        }
        if self.fits_client_limit(&packet) {
            self.write_packet(&packet);
        } else {
            tracing::debug!(client_id = %self.client_id, packet = packet.name(), "larger than the client's maximum packet size; not sent");
        }
    }

    /// Writes the buffer out. Boxed so its timer and write state live only while a write
    /// is in progress, not in every idle connection's task.
    fn flush(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Exit>> + Send + '_>> {
        Box::pin(self.write_out())
    }

    async fn write_out(&mut self) -> Result<(), Exit> {
        let write = async {
            self.io.write_all(&self.wbuf).await?;
            self.io.flush().await
        };
        let result = tokio::time::timeout(Duration::from_secs(30), write).await;
        if matches!(result, Ok(Ok(()))) {
            let written = self.wbuf.len() as u64;
            self.shared
                .stats
                .bytes_sent
                .fetch_add(written, Ordering::Relaxed);
        }
        self.wbuf.clear();
        if self.wbuf.capacity() > 64 * 1024 {
            self.wbuf = BytesMut::new();
        }
        match result {
            Ok(Ok(())) => Ok(()),
            _ => Err(Exit::Lost),
        }
    }
}

#[cfg(test)]
mod size_tests {
    /// Idle connections must stay small (DESIGN: <= 1 KiB each); this prints the sizes
    /// that make up one, for `cargo test -- --nocapture`.
    #[test]
    fn connection_parts_sizes() {
        use std::mem::size_of;
        type C = super::Connection<crate::AllowAll, tokio::net::TcpStream>;
        println!("Connection: {} B", size_of::<C>());
        println!("Session: {} B", size_of::<crate::session::Session>());
        println!(
            "SessionState: {} B",
            size_of::<crate::session::SessionState>()
        );
        println!("TcpStream: {} B", size_of::<tokio::net::TcpStream>());
        assert!(size_of::<C>() < 1024);
    }

    /// A parked connection is this record (boxed) in one lot slot
    /// (`park::tests::parked_slot_size`) with one waker allocation: what an idle TCP
    /// connection costs besides its session and the kernel's socket. It was the whole
    /// running `Connection` (368 B) before the parked record left out what only a
    /// running connection holds.
    #[test]
    fn parked_record_size() {
        use std::mem::size_of;
        type P = super::parked::ParkedConnection<crate::AllowAll, tokio::net::TcpStream>;
        println!("ParkedConnection: {} B", size_of::<P>());
        assert!(
            size_of::<P>() <= 248,
            "the parked record grew: {} B",
            size_of::<P>()
        );
    }

    #[tokio::test]
    async fn connection_task_future_size() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let broker = crate::Broker::new(crate::BrokerConfig::default(), crate::AllowAll);
        let accepted = super::Accepted {
            io: server,
            peer,
            transport: crate::Transport::Tcp,
            peer_certificate: None,
            permit: None,
        };
        let task = super::serve_connection(broker.shared.clone(), accepted);
        println!(
            "serve_connection future: {} B",
            std::mem::size_of_val(&task)
        );
        // 1,288 B in a debug build (1,264 B release) since reads wait with
        // `poll_read_ready`, 1,320 B with the wait for pipelined acks (two references
        // in the select): a new per-connection state must not undo that unnoticed.
        assert!(
            std::mem::size_of_val(&task) <= 1_400,
            "idle connections must stay small"
        );
        println!("Sleep: {} B", std::mem::size_of::<tokio::time::Sleep>());
        println!(
            "Properties: {} B",
            std::mem::size_of::<crate::protocol::Properties>()
        );
        println!(
            "Connect: {} B",
            std::mem::size_of::<crate::protocol::Connect>()
        );
        drop(client);
    }
}
