//! A connection as it waits in the parking lot: only what a parked connection keeps.
//!
//! A running [`Connection`] carries what only running needs: its read and write
//! buffers and its delivery scratch vector (88 B of headers even when empty), acks
//! waiting for the store and a takeover's reply (both absent whenever it parks, see
//! `Connection::can_park`). The parked record leaves them out; they are created empty
//! again when the connection resumes. The running layout stays as it was, so the
//! message path does not pay for this.

use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use bytestring::ByteString;
use tokio::runtime::Handle;
use tokio::time::Instant;

use super::io::Io;
use super::park::Parkable;
use super::{ClientLimits, Connection, TopicAliases};
use crate::broker::Shared;
use crate::hooks::{Hooks, Traffic};
use crate::protocol::{LastWill, ProtocolVersion};
use crate::session::{OwnedSession, SessionState};

pub(super) struct ParkedConnection<H: Hooks, S: Io> {
    shared: Arc<Shared<H>>,
    io: S,
    session: OwnedSession,
    state: Box<SessionState>,
    last_read: Instant,
    keep_alive: Duration,
    client_id: ByteString,
    identity: H::Identity,
    will: Option<Box<LastWill>>,
    aliases: Option<Box<TopicAliases>>,
    peer: std::net::SocketAddr,
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
    traffic: Traffic,
    limits: ClientLimits,
    session_expiry: u32,
    version: ProtocolVersion,
}

impl<H: Hooks, S: Io> Connection<H, S> {
    /// The record to park. Only for a connection that `can_park` (the event loop
    /// parks only then): what is left out is empty or absent.
    pub(super) fn into_parked(self) -> ParkedConnection<H, S> {
        debug_assert!(self.can_park(), "parked with buffered or pending work");
        let Connection {
            shared,
            io,
            rbuf: _,
            wbuf: _,
            version,
            client_id,
            identity,
            session,
            state,
            will,
            session_expiry,
            keep_alive,
            last_read,
            limits,
            aliases,
            acks: _,
            peer,
            scratch: _,
            pending_done: _,
            _slot: slot,
            traffic,
        } = self;
        ParkedConnection {
            shared,
            io,
            session,
            state,
            last_read,
            keep_alive,
            client_id,
            identity,
            will,
            aliases,
            peer,
            slot,
            traffic,
            limits,
            session_expiry,
            version,
        }
    }
}

impl<H: Hooks, S: Io> ParkedConnection<H, S> {
    /// The running connection again, with empty buffers.
    pub(super) fn into_running(self) -> Connection<H, S> {
        let ParkedConnection {
            shared,
            io,
            session,
            state,
            last_read,
            keep_alive,
            client_id,
            identity,
            will,
            aliases,
            peer,
            slot,
            traffic,
            limits,
            session_expiry,
            version,
        } = self;
        Connection {
            shared,
            io,
            rbuf: Default::default(),
            wbuf: Default::default(),
            version,
            client_id,
            identity,
            session,
            state,
            will,
            session_expiry,
            keep_alive,
            last_read,
            limits,
            aliases,
            acks: None,
            peer,
            scratch: Vec::new(),
            pending_done: None,
            _slot: slot,
            traffic,
        }
    }
}

impl<H: Hooks, S: Io> Parkable for ParkedConnection<H, S> {
    fn register(&mut self, cx: &mut Context<'_>) -> bool {
        // All registered whatever the first says, so no wake is missed either way.
        let readable = self.io.register_readable(cx);
        // Kicks raise the session's signal too (`Session::kick_owner`); one that came
        // before this registration is still waiting in the session.
        let signalled = self.session.register_waker(cx);
        let kicked = self.session.has_kick_for(self.session.owner());
        readable || signalled || kicked
    }

    fn deadline(&self) -> Option<Instant> {
        super::idle::keep_alive_limit(self.keep_alive).map(|limit| self.last_read + limit)
    }

    fn resume(self: Box<Self>, handle: &Handle) {
        let tasks = self.shared.tasks.clone();
        tasks.spawn_on(self.into_running().run(), handle);
    }
}
