//! Acknowledgements of messages we sent: PUBACK, PUBREC, PUBCOMP.
//! Each one frees a slot of the in-flight window, so queued deliveries are drained again.

use super::io::Io;
use super::{Connection, Exit};
use crate::hooks::Hooks;
use crate::protocol::{Packet, PubResponse, QoS};

impl<H: Hooks, S: Io> Connection<H, S> {
    /// Position of an in-flight message; acks usually arrive in order, so the front
    /// is checked first.
    fn inflight_position(&self, pkid: u16, released: bool) -> Option<usize> {
        self.state
            .inflight
            .iter()
            .position(|m| m.pkid == pkid && m.released == released)
    }

    pub(super) fn handle_puback(&mut self, ack: PubResponse) -> Result<(), Exit> {
        if let Some(i) = self.inflight_position(ack.pkid, false) {
            if self.state.inflight[i].delivery.qos == QoS::AtLeastOnce {
                self.state.inflight.remove(i);
            }
        }
        self.drain_deliveries()
    }

    pub(super) fn handle_pubrec(&mut self, rec: PubResponse) -> Result<(), Exit> {
        let Some(i) = self.inflight_position(rec.pkid, false) else {
            // Unknown id: still answer so the client can finish its flow.
            self.write_pub_response(
                Packet::PubRel,
                rec.pkid,
                crate::protocol::reason::PACKET_IDENTIFIER_NOT_FOUND,
            );
            return Ok(());
        };
        if rec.code >= 0x80 {
            // The receiver refused it (v5): the flow ends here.
            self.state.inflight.remove(i);
            return self.drain_deliveries();
        }
        self.state.inflight[i].released = true;
        self.write_pub_response(Packet::PubRel, rec.pkid, 0);
        Ok(())
    }

    pub(super) fn handle_pubcomp(&mut self, comp: PubResponse) -> Result<(), Exit> {
        if let Some(i) = self.inflight_position(comp.pkid, true) {
            self.state.inflight.remove(i);
        }
        self.drain_deliveries()
    }
}
