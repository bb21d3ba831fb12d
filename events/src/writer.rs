//! The batching writer for MQTT connect/disconnect events: the connection task only
//! pushes onto a channel (never waits on the database); a background task writes what
//! accumulated in one transaction, retrying while the database is busy.
//!
//! # Group ancestry, resolved per batch
//! A group consumer with subresources sees the connect/disconnect of a client in its
//! subtree, so MQTT events carry [`Event::ancestors`] like every other event. They are
//! resolved here, by the background task, with ONE query per batch for the distinct
//! clients in it ([`ClientAncestry`], implemented by auth: this crate knows no group
//! table). Not on the MQTT task, so a CONNECT costs no database work for it, and not
//! carried on the session's identity: an identity loaded at CONNECT would stamp a
//! disconnect hours later with the hierarchy of the connect, and keeping it right would
//! need every group move to invalidate the access cache of every client below it. The
//! hierarchy recorded is the one when the batch is written, a few milliseconds after
//! the event (the task wakes as soon as an event is queued); an HTTP change's event
//! likewise records it at its commit. A client deleted before its disconnect is written
//! has no group left: that disconnect reaches domain and client consumers only.

use crate::model::mqtt::{
    endpoint_event, subscription_event, traffic_event, EndpointChange, MqttEventType, SessionEvent,
    SessionRef, SubscriptionChange,
};
use crate::model::{Event, Service};
use crate::outbox_rows::{append_rows, NewRow};
use backon::Retryable;
use magnetite_db::Db;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Most events written per transaction.
pub const MAX_BATCH: usize = 1000;

/// How long the writer, woken by a first event, waits for more before it writes: in
/// a connect storm one transaction then carries many connections' events instead of
/// one or two (each transaction costs a commit, and wakes every outbox reader). An
/// event reaches the outbox at most this much later; a connection never waits for it.
pub const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

/// What connections queue for the writer: connects and disconnects as their few
/// values (the bulk of a connect storm), anything else as a built [`Event`].
#[derive(Debug)]
enum Queued {
    Session(SessionEvent),
    Event(Event),
}

impl Queued {
    /// The outbox row, payload and scope rows included.
    fn row<'a>(&'a self, instance: &str) -> NewRow<'a> {
        match self {
            Queued::Event(ev) => NewRow::of_event(ev),
            Queued::Session(s) => {
                let subjects = Some(s.client_id.clone()).filter(|id| !id.is_empty());
                let scopes = crate::scopes::rows_of(subjects.into_iter().collect(), &s.ancestors);
                NewRow {
                    stream: Service::Mqtt.as_str(),
                    payload: s.payload(instance),
                    domain: s.domain.as_deref(),
                    scopes: scopes.into_iter().collect(),
                }
            }
        }
    }
}

/// An event of a batch as the ancestry lookup sees it: the platform client it names,
/// if any (events with a domain: without platform auth the id is a free MQTT client id
/// and there are no groups), and where its groups go.
pub trait TenantEvent {
    /// The platform client the event names.
    fn tenant_client(&self) -> Option<&str>;
    /// Sets the groups above that client.
    fn set_ancestors(&mut self, groups: &[String]);
}

impl TenantEvent for Event {
    fn tenant_client(&self) -> Option<&str> {
        self.domain.as_ref()?;
        self.fields.get("client_id").and_then(|v| v.as_str())
    }
    fn set_ancestors(&mut self, groups: &[String]) {
        self.ancestors = groups.to_vec();
    }
}

impl TenantEvent for Queued {
    fn tenant_client(&self) -> Option<&str> {
        match self {
            Queued::Event(ev) => ev.tenant_client(),
            Queued::Session(s) => s.domain.as_ref().map(|_| s.client_id.as_str()),
        }
    }
    fn set_ancestors(&mut self, groups: &[String]) {
        match self {
            Queued::Event(ev) => ev.set_ancestors(groups),
            Queued::Session(s) => s.ancestors = groups.to_vec(),
        }
    }
}

/// Groups above each client: client id -> group ids (clients without a group may be
/// absent). The error is logged and the lookup retried.
pub type AncestryFuture<'a> =
    Pin<Box<dyn Future<Output = Result<HashMap<String, Vec<String>>, String>> + Send + 'a>>;

/// The groups above clients, as the hierarchy is now, for at most [`MAX_BATCH`] client
/// ids in one lookup (the binary plugs in auth's store).
pub trait ClientAncestry: Send + Sync {
    fn ancestors<'a>(&'a self, client_ids: &'a [String]) -> AncestryFuture<'a>;
}

/// Handle to the writer (cheap to clone). Dropping every handle flushes and stops it.
#[derive(Clone, Debug)]
pub struct MqttWriter {
    tx: mpsc::UnboundedSender<Queued>,
    instance: String,
}

impl MqttWriter {
    /// Spawns the background task on the current tokio runtime.
    pub fn spawn(db: Db, instance: String) -> MqttWriter {
        Self::spawn_joinable(db, instance).0
    }

    /// Like [`MqttWriter::spawn`], also returning the task: once every handle is
    /// dropped, awaiting it waits until what was recorded is written (clean shutdown).
    pub fn spawn_joinable(db: Db, instance: String) -> (MqttWriter, tokio::task::JoinHandle<()>) {
        Self::spawn_with_ancestry(db, instance, None)
    }

    /// Like [`MqttWriter::spawn_joinable`], the events of each batch carrying the
    /// groups above their clients (see the module doc).
    pub fn spawn_with_ancestry(
        db: Db,
        instance: String,
        ancestry: Option<Arc<dyn ClientAncestry>>,
    ) -> (MqttWriter, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(db, rx, ancestry, instance.clone()));
        (MqttWriter { tx, instance }, task)
    }

    /// Records an event for `client_id` (the platform client id, or the MQTT client id
    /// without platform auth: see [`crate::model::mqtt::mqtt_event`]) now; never blocks.
    /// `domain` is the client's domain (`None` without platform auth): the event
    /// belongs to that tenant's log.
    pub fn record(&self, client_id: &str, domain: Option<&str>, kind: MqttEventType) {
        let _ = self
            .tx
            .send(Queued::Session(SessionEvent::now(client_id, domain, kind)));
    }

    /// Records a subscription change of the session `subscriber_id` (its MQTT client
    /// id) of `client_id` on the routed `filter`; never blocks.
    pub fn record_subscription(
        &self,
        client_id: &str,
        subscriber_id: &str,
        domain: Option<&str>,
        change: SubscriptionChange,
        filter: &str,
    ) {
        let session = self.session(client_id, subscriber_id);
        self.send_in(subscription_event(session, change, filter), domain);
    }

    /// Records the message counts of a session that ended; never blocks.
    pub fn record_traffic(
        &self,
        client_id: &str,
        subscriber_id: &str,
        domain: Option<&str>,
        inbound: u64,
        outbound: u64,
    ) {
        let session = self.session(client_id, subscriber_id);
        self.send_in(traffic_event(session, inbound, outbound), domain);
    }

    /// Records a change of the devices the session `subscriber_id` of the gateway
    /// `gateway_id` serves (the device is of the gateway's `domain`); never blocks.
    pub fn record_endpoint(
        &self,
        gateway_id: &str,
        subscriber_id: &str,
        domain: &str,
        change: EndpointChange,
        device_id: &str,
    ) {
        let gateway = self.session(gateway_id, subscriber_id);
        self.send_in(endpoint_event(gateway, change, device_id), Some(domain));
    }

    /// Queues `ev` as an event of the tenant `domain` (none without platform auth).
    fn send_in(&self, mut ev: Event, domain: Option<&str>) {
        ev.domain = domain.map(str::to_string);
        let _ = self.tx.send(Queued::Event(ev));
    }

    fn session<'a>(&'a self, client_id: &'a str, subscriber_id: &'a str) -> SessionRef<'a> {
        SessionRef {
            client_id,
            subscriber_id,
            instance: &self.instance,
        }
    }

    /// Records any other event raised by a connection (Kaa connectivity events) in the
    /// same ordered batches; never blocks.
    pub fn record_event(&self, ev: Event) {
        let _ = self.tx.send(Queued::Event(ev));
    }
}

async fn run(
    db: Db,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    ancestry: Option<Arc<dyn ClientAncestry>>,
    instance: String,
) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        gather_window(&mut rx, &mut buf).await;
        if let Some(ancestry) = &ancestry {
            add_ancestors(ancestry.as_ref(), &mut buf).await;
        }
        let rows: Vec<NewRow<'_>> = buf.iter().map(|q| q.row(&instance)).collect();
        let write = || append_rows(&db, &rows);
        let written = write
            .retry(crate::retry::policy())
            .notify(|e, delay| {
                tracing::warn!(error = %e, events = rows.len(), retry_in_ms = delay.as_millis() as u64,
                    "events: MQTT event write failed; retrying");
            })
            .await;
        // The policy never gives up, so this is only reached if that ever changes.
        if let Err(e) = written {
            tracing::error!(error = %e, events = rows.len(), "events: MQTT events dropped");
        }
        drop(rows);
        buf.clear();
    }
}

/// Adds what arrives within [`BATCH_WINDOW`] to a batch that is not full yet.
async fn gather_window(rx: &mut mpsc::UnboundedReceiver<Queued>, buf: &mut Vec<Queued>) {
    if buf.len() >= MAX_BATCH {
        return;
    }
    tokio::time::sleep(BATCH_WINDOW).await;
    while buf.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(queued) => buf.push(queued),
            Err(_) => break,
        }
    }
}

/// Fills the batch's ancestors with one lookup, retried like the write (a batch is
/// never written without them while the database answers).
async fn add_ancestors<T: TenantEvent>(ancestry: &dyn ClientAncestry, buf: &mut [T]) {
    let clients = tenant_clients(buf);
    if clients.is_empty() {
        return;
    }
    let lookup = || ancestry.ancestors(&clients);
    let found = lookup
        .retry(crate::retry::policy())
        .notify(|e, delay| {
            tracing::warn!(error = %e, clients = clients.len(), retry_in_ms = delay.as_millis() as u64,
                "events: MQTT event ancestry lookup failed; retrying");
        })
        .await;
    match found {
        Ok(found) => apply_ancestors(buf, &found),
        // The policy never gives up, so this is only reached if that ever changes.
        Err(e) => tracing::error!(error = %e, "events: MQTT events written without their groups"),
    }
}

/// The distinct platform clients of a batch ([`TenantEvent::tenant_client`]), in
/// first-seen order.
pub fn tenant_clients<T: TenantEvent>(batch: &[T]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in batch.iter().filter_map(T::tenant_client) {
        if !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    out
}

/// Sets each tenant event's ancestors to its client's groups in `found`.
pub fn apply_ancestors<T: TenantEvent>(batch: &mut [T], found: &HashMap<String, Vec<String>>) {
    for ev in batch.iter_mut() {
        let groups = ev.tenant_client().and_then(|id| found.get(id));
        if let Some(groups) = groups {
            ev.set_ancestors(groups);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mqtt::mqtt_event;

    fn connect(client: &str, domain: Option<&str>) -> Event {
        let mut ev = mqtt_event(client, MqttEventType::Connect, "i");
        ev.domain = domain.map(str::to_string);
        ev
    }

    #[test]
    fn a_batch_asks_once_per_platform_client() {
        let batch = [
            connect("a", Some("d")),
            connect("b", Some("d")),
            connect("a", Some("d")),
            connect("free-mqtt-id", None),
        ];
        assert_eq!(tenant_clients(&batch), vec!["a", "b"]);
    }

    #[test]
    fn each_event_gets_its_clients_groups_and_no_one_elses() {
        let mut batch = [
            connect("a", Some("d")),
            connect("b", Some("d")),
            connect("a", None),
        ];
        let found = HashMap::from([("a".to_string(), vec!["g2".into(), "g1".into()])]);
        apply_ancestors(&mut batch, &found);
        assert_eq!(batch[0].ancestors, vec!["g2", "g1"]);
        assert!(batch[1].ancestors.is_empty(), "b has no group");
        assert!(
            batch[2].ancestors.is_empty(),
            "an event without a tenant names no platform client"
        );
    }
}
