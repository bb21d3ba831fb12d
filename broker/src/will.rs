//! Will messages: published when a connection ends without a clean DISCONNECT,
//! immediately or after the v5 Will Delay Interval (cancelled if the client returns).

use std::sync::Arc;
use std::time::Duration;

use crate::broker::Shared;
use crate::hooks::Hooks;
use crate::message::Message;
use crate::protocol::{LastWill, Publish};
use crate::session::Session;

pub(crate) fn message(will: &LastWill) -> Arc<Message> {
    let publish = Publish {
        dup: false,
        qos: will.qos,
        retain: will.retain,
        topic: will.topic.clone(),
        pkid: 0,
        payload: will.payload.clone(),
        properties: will.properties.clone(),
    };
    let mut message = Message::from_publish(publish, 0);
    if let Some(props) = message.properties.as_mut() {
        props.will_delay_interval = None;
        if props.is_empty() {
            message.properties = None;
        }
    }
    Arc::new(message)
}

pub fn publish_now<H: Hooks>(shared: &Shared<H>, will: &LastWill) {
    shared.publish_detached(message(will));
}

/// Publishes at once, or after min(will delay, session expiry) if a delay was asked.
/// Returns the will now pending and its delay (for the persistent store).
pub fn publish_or_schedule<H: Hooks>(
    shared: &Arc<Shared<H>>,
    session: &Arc<Session>,
    will: &LastWill,
    expiry: u32,
) -> Option<(Arc<Message>, u32)> {
    let delay = will.properties.will_delay_interval.unwrap_or(0).min(expiry);
    if delay == 0 {
        publish_now(shared, will);
        return None;
    }
    let message = message(will);
    schedule(shared, session, Arc::clone(&message), delay);
    Some((message, delay))
}

/// Publishes `message` after `delay` seconds unless the session is taken back first;
/// a persisted session then forgets it in the store.
pub fn schedule<H: Hooks>(
    shared: &Arc<Shared<H>>,
    session: &Arc<Session>,
    message: Arc<Message>,
    delay: u32,
) {
    let shared_for_task = Arc::clone(shared);
    let session_for_task = Arc::clone(session);
    let timer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(u64::from(delay))).await;
        if let Some(will) = session_for_task.take_pending_will_after_timer() {
            shared_for_task.publish_detached(will);
            session_for_task.with_link(|link| {
                link.meta.will = None;
                link.write_meta();
            });
        }
    });
    session.set_delayed_will(message, timer.abort_handle());
}
