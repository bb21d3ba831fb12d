//! Per-client publish limits (`max_publish_rate`, `max_publish_bandwidth`): a publisher
//! over its budget is throttled by not reading its socket until the budget allows the
//! PUBLISH in hand, so TCP flow control slows the device instead of the broker dropping
//! its messages or disconnecting it (see [`crate::admission`]).

use super::io::Io;
use super::Connection;
use crate::hooks::Hooks;
use crate::protocol::Publish;

impl<H: Hooks, S: Io> Connection<H, S> {
    /// Waits until this session's publish budget admits `publish`. One branch when no
    /// limit is configured. The budget lives in the admission's table, not in the
    /// connection, so idle connections carry nothing for it.
    pub(super) async fn throttle_publish(&mut self, publish: &Publish) {
        let admission = &self.shared.admission;
        if !admission.limits_publishers() {
            return;
        }
        let bytes = (publish.topic.len() + publish.payload.len()) as u64;
        while let Err((limit, wait)) = admission.admit_publish(self.session.id, bytes) {
            admission.counters.count_throttled(limit);
            tokio::time::sleep(wait).await;
        }
    }
}
