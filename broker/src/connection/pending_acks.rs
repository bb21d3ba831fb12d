//! Pipelined acknowledgements under `--persistence sync`: the connection keeps reading
//! while the PUBACKs / PUBRECs of earlier PUBLISHes wait for the fsync of their records.
//!
//! Awaiting each fsync before reading the next packet capped one publisher at one
//! message per fsync (~300 msg/s), however many it had in flight. Instead an ack that
//! needs durability is queued with the store ticket of its records, and the event loop
//! waits for the store to pass the front ticket only while the queue is non-empty.
//!
//! The contract:
//! - No PUBACK / PUBREC leaves before the records of its PUBLISH are durable.
//! - Acks leave in the order of the packets they answer [MQTT-4.6.0-2, -3, -4]: while
//!   any ack waits, every later PUBACK / PUBREC / PUBCOMP queues behind it, even one
//!   that needs no fsync (a refusal, an unstored message, a PUBREL's PUBCOMP, which so
//!   never overtakes the PUBREC of its id). PINGRESP and our own PUBLISH / PUBREL
//!   belong to no such order and go out at once.
//! - A failing store refuses the waiting ones in order with the refusal of
//!   `refuse_unstorable` (0x97 on 5.0; 3.1.1 closes the connection).
//! - A client DISCONNECT first waits for the queue to empty, so everything published
//!   before it is answered; a lost connection, a kick or a shutdown drops the queue:
//!   the records are durable or not, and no ack follows a closed socket or a DISCONNECT.
//! - At most `receive_maximum` acks wait: past it the connection stops reading until
//!   the front is released (backpressure, bounded memory per connection).
//!
//! The queue lives in a box allocated on first use and freed when it empties: idle
//! connections carry one null pointer.

use std::collections::VecDeque;
use std::future::Future;
use std::task::{Context, Poll};

use super::io::Io;
use super::{Connection, Exit};
use crate::broker::Shared;
use crate::hooks::Hooks;
use crate::persist::{Progress, WaitFuture};
use crate::protocol::{reason, Packet, PubResponse, QoS};

/// Which answer to an inbound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AckKind {
    Puback,
    Pubrec,
    Pubcomp,
}

impl AckKind {
    pub(super) fn packet(self) -> fn(PubResponse) -> Packet {
        match self {
            AckKind::Puback => Packet::PubAck,
            AckKind::Pubrec => Packet::PubRec,
            AckKind::Pubcomp => Packet::PubComp,
        }
    }
}

/// One answer waiting for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PendingAck {
    /// Store ticket that must be durable first; 0 for none.
    pub ticket: u64,
    pub kind: AckKind,
    pub pkid: u16,
    pub code: u8,
}

/// What to do with the front of the queue, given the store's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Its records are durable (or it needs none): send it.
    Send,
    /// The store failed before its records were durable: refuse it.
    Refuse,
    /// Not durable yet.
    Wait,
}

/// The decision for one queued ack; pure, so the ordering rules are tested alone.
pub(super) fn step(ack: &PendingAck, progress: Progress) -> Step {
    if ack.ticket <= progress.durable {
        Step::Send
    } else if progress.failing {
        Step::Refuse
    } else {
        Step::Wait
    }
}

#[derive(Default)]
pub(super) struct PendingAcks {
    queue: VecDeque<PendingAck>,
    /// Resolves once the store passes the front's ticket; kept across loop turns (the
    /// select may drop the future that polls it).
    waiter: Option<WaitFuture<'static, Progress>>,
}

impl PendingAcks {
    /// Takes the front ack if `progress` lets it go, with what to do with it.
    pub(super) fn pop_ready(&mut self, progress: Progress) -> Option<(PendingAck, Step)> {
        let front = self.queue.front()?;
        match step(front, progress) {
            Step::Wait => None,
            decided => self.queue.pop_front().map(|ack| (ack, decided)),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Ready once the store has passed the front's ticket (or fails).
    fn poll_progress<H: Hooks>(
        &mut self,
        shared: &Shared<H>,
        cx: &mut Context<'_>,
    ) -> Poll<Progress> {
        let Some(persist) = shared.persist.as_ref() else {
            // No store, nothing to wait for (only a store's tickets are non-zero).
            return Poll::Ready(Progress {
                durable: u64::MAX,
                failing: false,
            });
        };
        let ticket = self.queue.front().map_or(0, |ack| ack.ticket);
        let waiter = self
            .waiter
            .get_or_insert_with(|| persist.store.wait_durable(ticket));
        let progress = std::task::ready!(waiter.as_mut().poll(cx));
        self.waiter = None;
        Poll::Ready(progress)
    }
}

/// The event loop's wait for queued acks; never resolves while none wait. A `poll_fn`
/// of two references, not an `async fn`: it sits in every connection's select.
pub(super) fn acks_progress<'a, H: Hooks>(
    acks: &'a mut Option<Box<PendingAcks>>,
    shared: &'a Shared<H>,
) -> impl Future<Output = Progress> + 'a {
    std::future::poll_fn(move |cx| match acks {
        Some(acks) => acks.poll_progress(shared, cx),
        None => Poll::Pending,
    })
}

impl<H: Hooks, S: Io> Connection<H, S> {
    /// Answers an inbound PUBLISH / PUBREL: at once, or behind acks still waiting for
    /// their fsync (`ticket` > 0: this one waits for its own records too).
    pub(super) fn answer(&mut self, kind: AckKind, pkid: u16, code: u8, ticket: u64) {
        if ticket == 0 && self.acks.is_none() {
            return self.write_pub_response(kind.packet(), pkid, code);
        }
        let ack = PendingAck {
            ticket,
            kind,
            pkid,
            code,
        };
        self.acks
            .get_or_insert_with(Box::default)
            .queue
            .push_back(ack);
    }

    /// Sends (or refuses) the queued acks `progress` lets go, in order; frees the queue
    /// once empty.
    pub(super) fn release_acks(&mut self, progress: Progress) -> Result<(), Exit> {
        while let Some((ack, decided)) = self.acks.as_mut().and_then(|a| a.pop_ready(progress)) {
            let code = match decided {
                Step::Refuse => self.unstorable(ack.kind, ack.pkid)?,
                _ => ack.code,
            };
            self.write_pub_response(ack.kind.packet(), ack.pkid, code);
        }
        if self.acks.as_ref().is_some_and(|a| a.len() == 0) {
            self.acks = None;
        }
        Ok(())
    }

    /// Waits (reading nothing) until fewer than `limit` acks are queued: 1 empties it.
    pub(super) async fn settle_acks(&mut self, limit: usize) -> Result<(), Exit> {
        while self.acks.as_ref().is_some_and(|a| a.len() >= limit) {
            let progress = acks_progress(&mut self.acks, &self.shared).await;
            self.release_acks(progress)?;
        }
        Ok(())
    }

    /// The refusal of a PUBLISH the store cannot take (a full disk): its reason code on
    /// 5.0 (0x97 Quota exceeded; a QoS 2 id is forgotten, as the flow ends), or the end
    /// of the connection on 3.1.1, which has no such code.
    pub(super) fn unstorable(&mut self, kind: AckKind, pkid: u16) -> Result<u8, Exit> {
        tracing::debug!(client_id = %self.client_id, "publish refused: persistent store failing");
        if let Some(persist) = &self.shared.persist {
            persist.refused();
        }
        if !self.version.is_v5() {
            return Err(Exit::Violation(reason::QUOTA_EXCEEDED));
        }
        if kind == AckKind::Pubrec {
            self.state.incoming_qos2.remove(&pkid);
            self.record_incoming_qos2(pkid, false);
        }
        Ok(reason::QUOTA_EXCEEDED)
    }
}

/// The answer to a PUBLISH of `qos`, if it has one.
pub(super) fn ack_kind(qos: QoS) -> Option<AckKind> {
    match qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce => Some(AckKind::Puback),
        QoS::ExactlyOnce => Some(AckKind::Pubrec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(ticket: u64, pkid: u16) -> PendingAck {
        PendingAck {
            ticket,
            kind: AckKind::Puback,
            pkid,
            code: 0,
        }
    }

    fn progress(durable: u64, failing: bool) -> Progress {
        Progress { durable, failing }
    }

    fn queue(acks: &[PendingAck]) -> PendingAcks {
        PendingAcks {
            queue: acks.iter().copied().collect(),
            waiter: None,
        }
    }

    fn drain(acks: &mut PendingAcks, at: Progress) -> Vec<(u16, Step)> {
        std::iter::from_fn(|| acks.pop_ready(at))
            .map(|(a, s)| (a.pkid, s))
            .collect()
    }

    #[test]
    fn an_ack_waits_for_its_ticket_and_no_fsync_needed_goes_at_once() {
        assert_eq!(step(&ack(5, 1), progress(4, false)), Step::Wait);
        assert_eq!(step(&ack(5, 1), progress(5, false)), Step::Send);
        assert_eq!(step(&ack(0, 1), progress(0, false)), Step::Send);
    }

    #[test]
    fn a_failing_store_refuses_only_what_is_not_durable() {
        assert_eq!(step(&ack(5, 1), progress(4, true)), Step::Refuse);
        assert_eq!(step(&ack(4, 1), progress(4, true)), Step::Send);
    }

    #[test]
    fn nothing_overtakes_an_ack_waiting_for_its_fsync() {
        // pkid 2 needs no fsync, but queued behind pkid 1 it waits for it.
        let mut acks = queue(&[ack(3, 1), ack(0, 2), ack(4, 3), ack(6, 4)]);
        assert!(drain(&mut acks, progress(2, false)).is_empty());
        assert_eq!(
            drain(&mut acks, progress(5, false)),
            vec![(1, Step::Send), (2, Step::Send), (3, Step::Send)]
        );
        assert_eq!(acks.len(), 1);
    }

    #[test]
    fn a_failure_refuses_the_rest_in_order_after_the_durable_ones() {
        let mut acks = queue(&[ack(3, 1), ack(5, 2), ack(0, 3), ack(6, 4)]);
        assert_eq!(
            drain(&mut acks, progress(3, true)),
            vec![
                (1, Step::Send),
                (2, Step::Refuse),
                (3, Step::Send),
                (4, Step::Refuse)
            ]
        );
        assert_eq!(acks.len(), 0);
    }
}
