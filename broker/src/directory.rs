//! The door to session ownership across instances: one owner per session cluster-wide.
//!
//! A [`ClusterLink`](crate::ClusterLink) moves messages; a [`SessionDirectory`] moves
//! sessions. The engine asks it on every CONNECT (after authentication, before the
//! session is attached) to claim the session for this instance; the directory knows who
//! owns it elsewhere and brings its state over (asking a live owner to hand it over, or
//! reading what a dead owner left), which the engine then adopts as if it had been
//! local all along. While the session lives here the engine tells the directory when a
//! persistent session's subscriptions change and when the session ends, so a survivor
//! can resume the subscriptions after this instance dies.
//!
//! The serving side (another instance asks this one for a session) is
//! [`BrokerHandle::hand_over`](crate::BrokerHandle::hand_over): it closes the local
//! connection with "session taken over" (v5 0x8E) and returns the session encoded.
//!
//! Contract:
//! - [`SessionDirectory::claim`] is the only method that may await the network, and
//!   only the CONNECT being accepted waits for it; it must return within a bounded time
//!   and never fail the CONNECT: when the directory is unreachable it answers
//!   [`Claim::unowned`] and the session is local-only (local traffic never stops).
//! - The other methods are called on connection tasks and must not block: queue and
//!   return.
//! - Every write the directory makes for a session is conditioned on the epoch it
//!   returned from `claim` (compare-and-swap): a stale instance never overwrites the
//!   owner's entry, and the engine hands that epoch back on each call.
//!
//! No directory (a single instance): nothing of this runs, sessions behave exactly as
//! without a cluster.

use bytes::Bytes;

use crate::persist::WaitFuture;

/// What [`SessionDirectory::claim`] decided.
#[derive(Debug, Default)]
pub struct Claim {
    /// The epoch this instance now owns the session under (0: not tracked, the
    /// directory was unreachable or is off).
    pub epoch: u64,
    /// The session's state brought from another instance, encoded by
    /// [`BrokerHandle::hand_over`](crate::BrokerHandle::hand_over) (or only its
    /// subscriptions, from a dead owner); `None` when there was nothing to bring.
    pub moved: Option<Bytes>,
}

impl Claim {
    /// Nothing claimed: the session stays local-only.
    pub fn unowned() -> Claim {
        Claim::default()
    }
}

pub trait SessionDirectory: Send + Sync + 'static {
    /// Makes this instance the owner of the session `(namespace, client_id)`, ending
    /// and bringing over any copy another instance holds (`clean_start`: ending and
    /// discarding it). See the module contract.
    fn claim<'a>(
        &'a self,
        namespace: &'a str,
        client_id: &'a str,
        clean_start: bool,
    ) -> WaitFuture<'a, Claim>;

    /// The persistent session's subscriptions are now `subscriptions` (opaque bytes
    /// in the session snapshot format) and its expiry `expiry` seconds: kept
    /// so a survivor can resume them if this instance dies. Must not block.
    fn subscriptions_changed(
        &self,
        namespace: &str,
        client_id: &str,
        epoch: u64,
        expiry: u32,
        subscriptions: Bytes,
    );

    /// The session ended here for good (clean session closed, expired, revoked): its
    /// entry goes, if this instance still owns it under `epoch`. Must not block.
    fn released(&self, namespace: &str, client_id: &str, epoch: u64);
}
