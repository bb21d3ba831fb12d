//! A TCP proxy between an edge's bridge and its upstream that cuts the link at a chosen
//! MQTT packet: the packet is not forwarded, both sockets close, and the proxy refuses
//! connections (accepts and closes them) until [`CutProxy::open`]. So a test can break
//! a QoS 2 exchange exactly between PUBREC and PUBCOMP, and keep the edge away from
//! its upstream while it restarts.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    Upstream,
    Edge,
}

/// MQTT control packet types (the fixed header's high nibble).
pub const PUBREC: u8 = 5;
pub const PUBCOMP: u8 = 7;

#[derive(Default)]
struct State {
    /// Cut at the next packet of this type going this way.
    armed: Mutex<Option<(Toward, u8)>>,
    refusing: AtomicBool,
    cuts: AtomicUsize,
    connections: AtomicUsize,
}

pub struct CutProxy {
    pub port: u16,
    state: Arc<State>,
}

impl CutProxy {
    /// Listens on a free loopback port and forwards to `upstream_port`.
    pub async fn start(upstream_port: u16) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((edge, _)) = listener.accept().await {
                if shared.refusing.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
                    continue;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(relay(edge, upstream, Arc::clone(&shared)));
            }
        });
        CutProxy { port, state }
    }

    /// Cuts the link at the next packet of `packet_type` going `toward`.
    pub fn cut_at(&self, toward: Toward, packet_type: u8) {
        *self.state.armed.lock().expect("lock") = Some((toward, packet_type));
    }

    /// Refuses connections from now on (until [`CutProxy::open`]).
    pub fn refuse(&self) {
        self.state.refusing.store(true, Ordering::SeqCst);
    }

    /// Forwards connections again.
    pub fn open(&self) {
        self.state.refusing.store(false, Ordering::SeqCst);
    }

    /// Links cut so far.
    pub fn cuts(&self) -> usize {
        self.state.cuts.load(Ordering::SeqCst)
    }

    /// Connections forwarded so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
}

async fn relay(edge: TcpStream, upstream: TcpStream, state: Arc<State>) {
    let (edge_r, edge_w) = edge.into_split();
    let (up_r, up_w) = upstream.into_split();
    // Whichever direction ends (EOF, error or the cut) ends both: the sockets drop.
    tokio::select! {
        () = pump(edge_r, up_w, Toward::Upstream, &state) => {}
        () = pump(up_r, edge_w, Toward::Edge, &state) => {}
    }
}

/// Forwards whole packets from `from` to `to` until EOF, an error or the armed cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    toward: Toward,
    state: &State,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        while let Some(len) = packet_len(&buf) {
            let packet: Vec<u8> = buf.drain(..len).collect();
            if is_the_cut(state, toward, packet[0] >> 4) {
                return;
            }
            if to.write_all(&packet).await.is_err() {
                return;
            }
        }
        match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether this packet is the armed cut; if so the cut happens (disarmed, refusing).
fn is_the_cut(state: &State, toward: Toward, packet_type: u8) -> bool {
    let mut armed = state.armed.lock().expect("lock");
    if *armed != Some((toward, packet_type)) {
        return false;
    }
    *armed = None;
    state.refusing.store(true, Ordering::SeqCst);
    state.cuts.fetch_add(1, Ordering::SeqCst);
    true
}

/// The length of the whole packet at the start of `buf`, once all of it is there.
fn packet_len(buf: &[u8]) -> Option<usize> {
    let mut remaining = 0usize;
    for (i, byte) in buf.iter().skip(1).take(4).enumerate() {
        remaining |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let total = 1 + i + 1 + remaining;
            return (buf.len() >= total).then_some(total);
        }
    }
    None
}
