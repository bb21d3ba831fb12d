//! Acknowledgements of messages we sent: PUBACK, PUBREC, PUBCOMP.
//! Each one frees a slot of the in-flight window, so queued deliveries are drained again.
//!
//! Each packet id in flight is in one of three states, and each state accepts exactly
//! one ack (MQTT 5.0 §4.3, mosquitto's `db__message_update_outgoing`):
//!
//! | in flight as           | PUBACK    | PUBREC            | PUBCOMP   |
//! |------------------------|-----------|-------------------|-----------|
//! | QoS 1                  | done      | protocol error    | protocol error |
//! | QoS 2, waiting PUBREC  | protocol error | PUBREL, wait PUBCOMP | protocol error |
//! | QoS 2, PUBREL sent     | protocol error | PUBREL again | done |
//!
//! An ack for an id that is not in flight is a late duplicate (the flow already ended,
//! e.g. before a reconnect): PUBACK / PUBCOMP are ignored, PUBREC gets PUBREL 0x92 so the
//! client can finish its side.

use super::io::Io;
use super::{Connection, Exit};
use crate::hooks::Hooks;
use crate::protocol::{reason, Packet, PubResponse, QoS};

/// Where an in-flight message stands, as far as acks are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckState {
    QoS1,
    AwaitingPubRec,
    AwaitingPubComp,
}

impl<H: Hooks, S: Io> Connection<H, S> {
    /// Index and state of the in-flight message with `pkid`; acks usually arrive in
    /// order, so the search starts at the front.
    fn inflight_state(&self, pkid: u16) -> Option<(usize, AckState)> {
        let i = self.state.inflight.iter().position(|m| m.pkid == pkid)?;
        let message = &self.state.inflight[i];
        let state = match (message.delivery.qos, message.released) {
            (QoS::ExactlyOnce, false) => AckState::AwaitingPubRec,
            (QoS::ExactlyOnce, true) => AckState::AwaitingPubComp,
            _ => AckState::QoS1,
        };
        Some((i, state))
    }

    pub(super) fn handle_puback(&mut self, ack: PubResponse) -> Result<(), Exit> {
        match self.inflight_state(ack.pkid) {
            None => Ok(()),
            Some((i, AckState::QoS1)) => {
                self.finish_inflight(i);
                self.drain_deliveries()
            }
            Some(_) => Err(self.violation(reason::PROTOCOL_ERROR)),
        }
    }

    pub(super) fn handle_pubrec(&mut self, rec: PubResponse) -> Result<(), Exit> {
        let (i, state) = match self.inflight_state(rec.pkid) {
            None => {
                self.write_pub_response(
                    Packet::PubRel,
                    rec.pkid,
                    reason::PACKET_IDENTIFIER_NOT_FOUND,
                );
                return Ok(());
            }
            Some((_, AckState::QoS1)) => return Err(self.violation(reason::PROTOCOL_ERROR)),
            Some(found) => found,
        };
        if rec.code >= 0x80 {
            if state == AckState::AwaitingPubComp {
                // A refusal after we already released it: the flows disagree.
                return Err(self.violation(reason::PROTOCOL_ERROR));
            }
            // The receiver refused it (v5): the flow ends here.
            self.finish_inflight(i);
            return self.drain_deliveries();
        }
        // First PUBREC, or a retransmitted one: either way the answer is PUBREL 0x00.
        let message = &self.state.inflight[i];
        if !message.released {
            self.record_sent(message.delivery.stored, message.pkid, true);
        }
        self.state.inflight[i].released = true;
        self.write_pub_response(Packet::PubRel, rec.pkid, reason::SUCCESS);
        Ok(())
    }

    pub(super) fn handle_pubcomp(&mut self, comp: PubResponse) -> Result<(), Exit> {
        match self.inflight_state(comp.pkid) {
            None => Ok(()),
            Some((i, AckState::AwaitingPubComp)) => {
                self.finish_inflight(i);
                self.drain_deliveries()
            }
            Some(_) => Err(self.violation(reason::PROTOCOL_ERROR)),
        }
    }

    /// Ends the flow of the in-flight message at `i` (and in the store, if persisted).
    fn finish_inflight(&mut self, i: usize) {
        if let Some(done) = self.state.inflight.remove(i) {
            self.forget_stored(done.delivery.stored);
        }
    }
}
