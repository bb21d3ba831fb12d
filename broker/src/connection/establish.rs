//! CONNECT: read it (within the connect timeout), authenticate, take over or create the
//! session, answer CONNACK, then run the connection.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use bytestring::ByteString;
use tokio::io::AsyncWriteExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::io::Io;
use super::{ClientLimits, Connection};
use crate::broker::Shared;
use crate::handover::{claim_cluster_wide, take_over};
use crate::hooks::{AuthDecision, ConnectInfo, ConnectRefusal, Hooks, TopicVerdict, Transport};
use crate::persist::{Link, Record, SessionMeta};
use crate::protocol::{
    self, reason, ConnAck, Connect, LastWill, Packet, Properties, ProtocolVersion,
};
use crate::session::{OwnedSession, OwnerId, Session, SessionState};
use crate::sessions::SessionKey;

/// Everything the listener knows about a fresh socket.
pub struct Accepted<S> {
    pub io: S,
    pub peer: SocketAddr,
    pub transport: Transport,
    /// DER of the client's TLS certificate, if it presented one.
    pub peer_certificate: Option<Vec<u8>>,
    /// A connection slot; `None` when the broker is at `max_connections`.
    pub permit: Option<OwnedSemaphorePermit>,
}

/// Serves one socket from CONNECT to close.
pub async fn serve_connection<H: Hooks, S: Io>(shared: Arc<Shared<H>>, accepted: Accepted<S>) {
    // The handshake runs in its own allocation, freed once CONNACK is queued: an async
    // task is as large as its largest state, and an idle connection should not carry
    // the CONNECT-handling state for its whole life.
    let Some(connection) = Box::pin(establish(Arc::clone(&shared), accepted)).await else {
        return;
    };
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    shared.stats.connects.fetch_add(1, Ordering::Relaxed);
    // Counted down when it ends, which may be in a later task if it parks.
    connection.run().await;
}

/// Reads CONNECT (within the connect timeout) and accepts or refuses it.
async fn establish<H: Hooks, S: Io>(
    shared: Arc<Shared<H>>,
    mut accepted: Accepted<S>,
) -> Option<Connection<H, S>> {
    let mut rbuf = BytesMut::new();
    let config = &shared.config;
    let max = config.max_packet_size.min(config.max_connect_packet_size) as usize;
    let deadline = Instant::now() + config.connect_timeout;
    let first =
        tokio::time::timeout_at(deadline, read_connect(&mut accepted.io, &mut rbuf, max)).await;
    let connect = match first {
        Ok(Ok(connect)) => connect,
        Ok(Err(ConnectFailure::Refuse(version, code))) => {
            refuse(&mut accepted.io, version, code).await;
            return None;
        }
        _ => return None,
    };
    // Overload admission, before the slot wait, authentication and the session table.
    if let Err(refusal) = shared.admission.admit(accepted.peer.ip()) {
        let server = shared.admission.server_reference();
        let connack = crate::admission::refusal_connack(connect.protocol, &refusal, server);
        tracing::debug!(peer = %accepted.peer, ?refusal, "connection refused: overload");
        send_connack(&mut accepted.io, connect.protocol, connack).await;
        return None;
    }
    if accepted.permit.is_none() {
        accepted.permit = wait_for_slot(&shared, deadline).await;
    }
    accept_connect(&shared, accepted, rbuf, *connect).await
}

/// A connection slot for a CONNECT that arrived with every slot taken: the first one
/// freed within `connect_slot_wait` (and before the connect deadline), or `None`.
///
/// The semaphore wakes waiters in arrival order as permits are released; no polling.
/// Waiting does not make a permit-less socket live longer than `connect_timeout`
/// already allows one that is slow to send its CONNECT, and at most
/// [`MAX_SLOT_WAITERS`](crate::broker::MAX_SLOT_WAITERS) wait at once: the rest are refused without waiting.
async fn wait_for_slot<H: Hooks>(
    shared: &Shared<H>,
    connect_deadline: Instant,
) -> Option<OwnedSemaphorePermit> {
    let slots = Arc::clone(&shared.connection_slots);
    if let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
        return Some(permit);
    }
    let _waiting = shared.slot_waiters.try_acquire().ok()?;
    let until = connect_deadline.min(Instant::now() + shared.config.connect_slot_wait);
    match tokio::time::timeout_at(until, slots.acquire_owned()).await {
        Ok(Ok(permit)) => Some(permit),
        _ => None,
    }
}

/// Why no CONNECT came out of the first bytes.
enum ConnectFailure {
    /// Close without a word (not MQTT, malformed, EOF).
    Close,
    /// Answer CONNACK with this code in this protocol version, then close.
    Refuse(ProtocolVersion, u8),
}

/// Reads until the first packet; it must be CONNECT of at most `max` bytes. The buffer
/// grows as bytes arrive (see `protocol::MIN_RESERVE_AHEAD`), not by the size a header
/// declares, so a socket that never sends its CONNECT costs little.
async fn read_connect<S: Io>(
    io: &mut S,
    rbuf: &mut BytesMut,
    max: usize,
) -> Result<Box<Connect>, ConnectFailure> {
    loop {
        match protocol::decode(rbuf, ProtocolVersion::V311, max) {
            Ok(Some(Packet::Connect(connect))) => return Ok(connect),
            Ok(Some(_)) => return Err(ConnectFailure::Close),
            Ok(None) => {}
            Err(err) if err.reason_code() == reason::UNSUPPORTED_PROTOCOL_VERSION => {
                // Answered in 3.1.1 form, which every version reads.
                return Err(ConnectFailure::Refuse(
                    ProtocolVersion::V311,
                    reason::v3::UNACCEPTABLE_PROTOCOL_VERSION,
                ));
            }
            Err(protocol::DecodeError::PacketTooLarge { .. }) if announces_v5(rbuf) => {
                // 3.1.1 has no code for it: those sockets are just closed.
                return Err(ConnectFailure::Refuse(
                    ProtocolVersion::V5,
                    reason::PACKET_TOO_LARGE,
                ));
            }
            Err(_) => return Err(ConnectFailure::Close),
        }
        match io.read_into(rbuf).await {
            Ok(0) | Err(_) => return Err(ConnectFailure::Close),
            Ok(_) => {}
        }
    }
}

/// Whether the buffered start of a CONNECT names protocol level 5 (`MQTT`, 5).
fn announces_v5(buf: &[u8]) -> bool {
    let Some(len_bytes) = buf
        .iter()
        .skip(1)
        .take(4)
        .position(|b| b & 0x80 == 0)
        .map(|i| i + 1)
    else {
        return false;
    };
    buf.get(1 + len_bytes..1 + len_bytes + 7) == Some(&[0, 4, b'M', b'Q', b'T', b'T', 5][..])
}

fn connack(code: u8, session_present: bool, properties: Properties) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present,
        code,
        properties,
    })
}

fn refusal_code(version: ProtocolVersion, refusal: ConnectRefusal) -> u8 {
    match (version.is_v5(), refusal) {
        (true, ConnectRefusal::BadCredentials) => reason::BAD_USERNAME_OR_PASSWORD,
        (true, ConnectRefusal::NotAuthorized) => reason::NOT_AUTHORIZED,
        (true, ConnectRefusal::ServerUnavailable) => reason::SERVER_UNAVAILABLE,
        (true, ConnectRefusal::Banned) => reason::BANNED,
        (true, ConnectRefusal::Throttled) => reason::CONNECTION_RATE_EXCEEDED,
        (false, ConnectRefusal::BadCredentials) => reason::v3::BAD_USERNAME_OR_PASSWORD,
        (
            false,
            ConnectRefusal::NotAuthorized | ConnectRefusal::Banned | ConnectRefusal::Throttled,
        ) => reason::v3::NOT_AUTHORIZED,
        (false, ConnectRefusal::ServerUnavailable) => reason::v3::SERVER_UNAVAILABLE,
    }
}

async fn refuse<S: Io>(io: &mut S, version: ProtocolVersion, code: u8) {
    let mut properties = Properties::default();
    if version.is_v5() {
        properties.reason_string = Some(reason::describe(code).into());
    }
    let refusal = ConnAck {
        session_present: false,
        code,
        properties,
    };
    send_connack(io, version, refusal).await;
}

/// Writes a refusing CONNACK (the socket is closed after it).
async fn send_connack<S: Io>(io: &mut S, version: ProtocolVersion, ack: ConnAck) {
    let mut out = BytesMut::new();
    if protocol::encode(&Packet::ConnAck(ack), version, &mut out).is_ok() {
        let _ = io.write_all(&out).await;
        let _ = io.flush().await;
    }
}

/// Validates and authenticates CONNECT, attaches the session and queues CONNACK.
async fn accept_connect<H: Hooks, S: Io>(
    shared: &Arc<Shared<H>>,
    mut accepted: Accepted<S>,
    rbuf: BytesMut,
    mut connect: Connect,
) -> Option<Connection<H, S>> {
    let version = connect.protocol;
    let v5 = version.is_v5();
    if accepted.permit.is_none() {
        let code = if v5 {
            reason::SERVER_BUSY
        } else {
            reason::v3::SERVER_UNAVAILABLE
        };
        refuse(&mut accepted.io, version, code).await;
        return None;
    }
    if v5 && connect.properties.authentication_method.is_some() {
        refuse(&mut accepted.io, version, reason::BAD_AUTHENTICATION_METHOD).await;
        return None;
    }
    if v5
        && connect
            .properties
            .maximum_packet_size
            .is_some_and(|max| max < MIN_V5_CONNACK)
    {
        // Not even a CONNACK without properties fits: nothing may be sent [MQTT-3.1.2-24].
        tracing::debug!(peer = %accepted.peer, "client maximum packet size below a CONNACK; closed");
        return None;
    }
    let (client_id, assigned) = match choose_client_id(&connect) {
        Ok(pair) => pair,
        Err(code) => {
            refuse(&mut accepted.io, version, code).await;
            return None;
        }
    };
    let (keep_alive, server_keep_alive) = match keep_alive(&connect, shared.config.max_keepalive) {
        Ok(pair) => pair,
        Err(code) => {
            refuse(&mut accepted.io, version, code).await;
            return None;
        }
    };
    let identity = match authenticate(shared, &accepted, &connect, &client_id).await {
        Ok(identity) => identity,
        Err(code) => {
            refuse(&mut accepted.io, version, code).await;
            return None;
        }
    };
    if let Some(will) = connect.will.as_mut() {
        if !authorize_will(shared, &identity, &client_id, will).await {
            let code = if v5 {
                reason::NOT_AUTHORIZED
            } else {
                reason::v3::NOT_AUTHORIZED
            };
            refuse(&mut accepted.io, version, code).await;
            return None;
        }
    }
    let config = &shared.config;
    let (session_expiry, expiry_capped) = session_expiry(&connect, config.max_session_expiry);
    if session_expiry > 0 && store_failing(shared) {
        let code = if v5 {
            reason::QUOTA_EXCEEDED
        } else {
            reason::v3::SERVER_UNAVAILABLE
        };
        tracing::warn!(client_id = %client_id, "persistent session refused: store failing");
        refuse(&mut accepted.io, version, code).await;
        return None;
    }
    let key = SessionKey::new(shared.hooks.session_namespace(&identity), client_id.clone());
    let epoch = claim_cluster_wide(shared, &key, connect.clean_start).await;
    let (session, state, session_present) = attach_session(shared, key, connect.clean_start).await;
    session.set_cluster_epoch(epoch);
    link_to_store(shared, &session, session_expiry, connect.will.as_ref());
    shared.publish_subscriptions(&session, &state, session_expiry);

    let mut properties = Properties::default();
    if v5 {
        properties.receive_maximum = Some(config.receive_maximum);
        properties.maximum_packet_size = Some(config.max_packet_size);
        properties.topic_alias_maximum = Some(config.topic_alias_maximum);
        properties.assigned_client_identifier = assigned.then(|| client_id.clone());
        properties.server_keep_alive = server_keep_alive;
        properties.session_expiry_interval = expiry_capped.then_some(session_expiry);
    }
    let props = &connect.properties;
    let limits = ClientLimits {
        inflight_window: props
            .receive_maximum
            .unwrap_or(u16::MAX)
            .min(config.max_inflight),
        max_packet_size: props.maximum_packet_size,
        topic_alias_max: props.topic_alias_maximum.unwrap_or(0),
    };
    let mut connection = Connection {
        shared: Arc::clone(shared),
        io: accepted.io,
        rbuf: if rbuf.is_empty() {
            BytesMut::new()
        } else {
            rbuf
        },
        wbuf: BytesMut::new(),
        version,
        client_id,
        identity,
        session,
        state,
        will: connect.will.map(owned_will),
        session_expiry,
        keep_alive: Duration::from_secs(u64::from(keep_alive)),
        last_read: Instant::now(),
        limits,
        aliases: None,
        acks: None,
        peer: accepted.peer,
        scratch: Vec::new(),
        pending_done: None,
        _slot: accepted.permit,
        traffic: Default::default(),
    };
    // MQTT 3.1 has no session present flag: the byte is reserved, 0.
    let session_present = session_present && version != ProtocolVersion::V31;
    connection.write_packet(&connack(reason::SUCCESS, session_present, properties));
    connection.session.set_online(true);
    shared
        .hooks
        .on_connect(&connection.identity, &connection.client_id);
    tracing::debug!(client_id = %connection.client_id, peer = %connection.peer, ?version, "client connected");
    Some(connection)
}

/// Whether a store is configured and cannot take new state (counted as a refusal).
fn store_failing<H: Hooks>(shared: &Shared<H>) -> bool {
    let Some(persist) = &shared.persist else {
        return false;
    };
    let failing = persist.store.is_failing();
    if failing {
        persist.refused();
    }
    failing
}

/// Ties a persistent session (expiry > 0) to the store, writing its session record with
/// the will it would leave if the broker died now; a session that is no longer
/// persistent leaves the store. Nothing without a store.
fn link_to_store<H: Hooks>(
    shared: &Shared<H>,
    session: &Session,
    expiry: u32,
    will: Option<&LastWill>,
) {
    let Some(persist) = &shared.persist else {
        return;
    };
    if expiry == 0 {
        if let Some(link) = session.replace_link(None) {
            link.append(Record::SessionGone { pid: link.pid });
        }
        return;
    }
    let will = will.map(|w| {
        let delay = w.properties.will_delay_interval.unwrap_or(0).min(expiry);
        (crate::will::message(w), delay)
    });
    let meta = SessionMeta {
        namespace: session.key.namespace.clone(),
        client_id: session.key.client_id.clone(),
        expiry,
        offline_since: None,
        will,
    };
    let relinked = session.with_link(|link| {
        link.meta = meta.clone();
        link.write_meta();
    });
    if relinked.is_none() {
        let link = Link::new(Arc::clone(&persist.store), meta);
        session.replace_link(Some(Box::new(link)));
    }
}

/// The client id to use, and whether we assigned it. Refusal codes per version.
fn choose_client_id(connect: &Connect) -> Result<(ByteString, bool), u8> {
    if !connect.client_id.is_empty() {
        // Copied: a slice of the read buffer would pin the whole buffer for the
        // connection's life.
        return Ok((ByteString::from(&*connect.client_id), false));
    }
    if connect.protocol == ProtocolVersion::V31
        || (!connect.protocol.is_v5() && !connect.clean_start)
    {
        // 3.1 requires a client id (1 to 23 characters); 3.1.1 [MQTT-3.1.3-8]: a
        // zero-length id needs CleanSession=1.
        return Err(reason::v3::IDENTIFIER_REJECTED);
    }
    let id = format!(
        "auto-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    Ok((ByteString::from(id), true))
}

async fn authenticate<H: Hooks, S>(
    shared: &Shared<H>,
    accepted: &Accepted<S>,
    connect: &Connect,
    client_id: &str,
) -> Result<H::Identity, u8> {
    let info = ConnectInfo {
        client_id,
        username: connect.username.as_deref(),
        password: connect.password.as_deref(),
        peer_addr: accepted.peer,
        peer_certificate: accepted.peer_certificate.as_deref(),
        protocol: connect.protocol,
        transport: accepted.transport,
    };
    match shared.hooks.authenticate(info).await {
        AuthDecision::Allow(identity) => Ok(identity),
        AuthDecision::Refuse(ConnectRefusal::Throttled) => {
            // A flood: counted by the hooks; a log line each would grow the log unbounded.
            tracing::debug!(client_id, peer = %accepted.peer, "connection refused: throttled");
            Err(refusal_code(connect.protocol, ConnectRefusal::Throttled))
        }
        AuthDecision::Refuse(refusal) => {
            tracing::info!(client_id, peer = %accepted.peer, ?refusal, "connection refused");
            Err(refusal_code(connect.protocol, refusal))
        }
    }
}

/// Asks the hooks about the will's topic; an allowed will is kept under its routed topic,
/// so it reaches the same subscribers as a PUBLISH on that topic would.
async fn authorize_will<H: Hooks>(
    shared: &Shared<H>,
    identity: &H::Identity,
    client_id: &str,
    will: &mut LastWill,
) -> bool {
    if will.topic.split('/').count() > shared.config.max_topic_levels {
        return false;
    }
    match crate::sys::authorize_publish(shared, identity, client_id, &will.topic).await {
        TopicVerdict::Refuse => false,
        TopicVerdict::Allow => true,
        TopicVerdict::AllowAs(routed) => {
            will.topic = routed;
            true
        }
    }
}

/// Takes the session over from any live connection of the same key (namespace and
/// client id), then resumes or replaces it. Returns the session, its state, and
/// "session present".
async fn attach_session<H: Hooks>(
    shared: &Arc<Shared<H>>,
    key: SessionKey,
    clean_start: bool,
) -> (OwnedSession, Box<SessionState>, bool) {
    let existing = match shared.sessions.get(&key) {
        Some(session) => take_over(shared, &session)
            .await
            .map(|state| (session, state)),
        None => None,
    };
    let (session, state, present) = match existing {
        Some((session, state)) if !clean_start => {
            session.cancel_timers();
            (session, state, true)
        }
        other => {
            if let Some((old, state)) = other {
                // A new connection for the client id cancels a delayed will even when it
                // starts a new session [MQTT-3.1.2-8], so discarding must not publish it.
                old.cancel_timers();
                // The key stays owned here (by the new session): the directory is not told.
                shared.discard_local(&old, &state);
            }
            let session = shared.sessions.create(key, shared.config.max_queued);
            let state = session.take_state().unwrap_or_default();
            (session, state, false)
        }
    };
    let session = OwnedSession::attach(session, OwnerId::next());
    (session, state, present)
}

/// (expiry seconds, whether we changed what the client asked for).
fn session_expiry(connect: &Connect, max: u32) -> (u32, bool) {
    let asked = if connect.protocol.is_v5() {
        connect.properties.session_expiry_interval.unwrap_or(0)
    } else if connect.clean_start {
        0
    } else {
        u32::MAX
    };
    let granted = asked.min(max);
    (granted, connect.protocol.is_v5() && granted != asked)
}

/// (keep-alive to enforce, Server Keep Alive to announce), or the CONNACK refusal code.
/// A 5.0 client asking for more than `--max-keepalive` (or for none) is told the maximum;
/// 3.1 / 3.1.1 cannot be told, so such a client is refused with 0x02, as mosquitto 2.0
/// does (a clamp it does not know about would disconnect it at a time it did not choose).
fn keep_alive(connect: &Connect, max: Option<u16>) -> Result<(u16, Option<u16>), u8> {
    let asked = connect.keep_alive;
    match max {
        Some(max) if asked == 0 || asked > max => {
            if connect.protocol.is_v5() {
                Ok((max, Some(max)))
            } else {
                Err(reason::v3::IDENTIFIER_REJECTED)
            }
        }
        _ => Ok((asked, None)),
    }
}

/// A 5.0 CONNACK without properties: header, length, flags, reason code, property length.
const MIN_V5_CONNACK: u32 = 5;

/// The will, with topic and payload copied out of the read buffer (see `choose_client_id`).
fn owned_will(will: LastWill) -> Box<LastWill> {
    Box::new(LastWill {
        topic: ByteString::from(&*will.topic),
        payload: bytes::Bytes::copy_from_slice(&will.payload),
        ..will
    })
}
