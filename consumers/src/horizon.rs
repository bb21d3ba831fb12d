//! The horizon: the highest outbox id every consumer may read up to, published on a
//! `watch` channel that also wakes the open streams.
//!
//! Consumers read the outbox by scope, so none of them sees the holes in the id
//! sequence that an insert still being committed leaves on PostgreSQL; a consumer that
//! moved past such a hole would never see its row. One [`OutboxReader`] per instance
//! (the gap rule lives there) follows every id; its committed cursor is the horizon.
//! Its name carries the instance id so each instance of a shared PostgreSQL keeps its
//! own horizon (a reader's lease is exclusive).

use magnetite_db::Db;
use magnetite_events::reader::{OutboxReader, ReaderConfig, Rows, Start, Step};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the reader looks for rows other instances (sharing a PostgreSQL) wrote.
/// Rows this process writes wake it at once: it waits on `magnetite_db::commits`,
/// bumped after each commit (the append path's transactions and the MQTT writer's
/// batches), so a stream's latency is the commit plus one scoped fetch, not the poll.
pub const POLL: Duration = Duration::from_millis(50);

/// Spawns the reader; it ends when `stop` turns true.
pub fn spawn(
    db: Db,
    instance: &str,
    horizon: watch::Sender<i64>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let name = format!("consumers-horizon|{instance}");
    let config = ReaderConfig {
        cursor_key: name.clone(),
        lease_key: name,
        // No row: ids only, nothing else is copied.
        rows: Rows::Streams(Vec::new()),
        batch: 10_000,
        poll: POLL,
        start: Start::End,
    };
    tokio::spawn(async move {
        let Some(mut reader) = OutboxReader::open(db, config, stop).await else {
            return;
        };
        reader.wake_on(magnetite_db::commits().subscribe());
        horizon.send_replace(reader.cursor());
        loop {
            match reader.next().await {
                Step::Batch(batch) => {
                    if !reader.commit(batch.last).await {
                        return;
                    }
                    horizon.send_replace(batch.last);
                }
                Step::Waiting => {}
                Step::Stopped => return,
            }
        }
    })
}
