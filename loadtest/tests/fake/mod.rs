//! A scripted MQTT broker for the load tester's own tests: it answers each CONNECT with
//! the code a policy picks from the client id and how many times that id tried, grants
//! every subscription, answers pings, and records what it saw (peer address,
//! credentials, filters). Enough to check what the tool sends, which a real broker
//! does not tell.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use magnetite_protocol::{decode, encode, ConnAck, Packet, ProtocolVersion, SubAck};

/// One CONNECT as the broker saw it.
#[derive(Debug, Clone)]
pub struct Login {
    pub peer: IpAddr,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The CONNACK code it got.
    pub code: u8,
}

/// CONNACK code for (client id, attempt number of that id starting at 1).
pub type Policy = dyn Fn(&str, u32) -> u8 + Send + Sync;

#[derive(Default)]
pub struct Record {
    pub logins: Vec<Login>,
    /// (client id, filter) per SUBSCRIBE.
    pub subscriptions: Vec<(String, String)>,
    attempts: HashMap<String, u32>,
}

pub struct FakeBroker {
    pub port: u16,
    pub record: Arc<Mutex<Record>>,
}

impl FakeBroker {
    pub fn start(policy: impl Fn(&str, u32) -> u8 + Send + Sync + 'static) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let record = Arc::new(Mutex::new(Record::default()));
        let policy: Arc<Policy> = Arc::new(policy);
        let shared = Arc::clone(&record);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (record, policy) = (Arc::clone(&shared), Arc::clone(&policy));
                std::thread::spawn(move || serve(stream, &record, &*policy));
            }
        });
        FakeBroker { port, record }
    }

    pub fn logins(&self) -> Vec<Login> {
        self.record.lock().unwrap().logins.clone()
    }

    pub fn subscriptions(&self) -> Vec<(String, String)> {
        self.record.lock().unwrap().subscriptions.clone()
    }
}

fn next_packet(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    version: ProtocolVersion,
) -> Option<Packet> {
    loop {
        if let Ok(Some(packet)) = decode(buf, version, 1 << 20) {
            return Some(packet);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn send(stream: &mut TcpStream, packet: &Packet, version: ProtocolVersion) -> bool {
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).unwrap();
    stream.write_all(&out).is_ok()
}

fn serve(mut stream: TcpStream, record: &Mutex<Record>, policy: &Policy) {
    let peer = stream.peer_addr().unwrap().ip();
    let mut buf = BytesMut::new();
    let Some(Packet::Connect(connect)) = next_packet(&mut stream, &mut buf, ProtocolVersion::V5)
    else {
        return;
    };
    let version = connect.protocol;
    let client_id = connect.client_id.to_string();
    let code = {
        let mut r = record.lock().unwrap();
        let attempt = r.attempts.entry(client_id.clone()).or_default();
        *attempt += 1;
        let code = policy(&client_id, *attempt);
        r.logins.push(Login {
            peer,
            client_id: client_id.clone(),
            username: connect.username.as_ref().map(|u| u.to_string()),
            password: connect
                .password
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).to_string()),
            code,
        });
        code
    };
    let ack = ConnAck {
        session_present: false,
        code,
        properties: Default::default(),
    };
    if !send(&mut stream, &Packet::ConnAck(ack), version) || code != 0 {
        return;
    }
    while let Some(packet) = next_packet(&mut stream, &mut buf, version) {
        let reply = match packet {
            Packet::Subscribe(s) => {
                let mut r = record.lock().unwrap();
                for (filter, _) in &s.filters {
                    r.subscriptions
                        .push((client_id.clone(), filter.to_string()));
                }
                Packet::SubAck(SubAck {
                    pkid: s.pkid,
                    codes: vec![0; s.filters.len()],
                    properties: Default::default(),
                })
            }
            Packet::PingReq => Packet::PingResp,
            Packet::Disconnect(_) => return,
            _ => continue,
        };
        if !send(&mut stream, &reply, version) {
            return;
        }
    }
}
