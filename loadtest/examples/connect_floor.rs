//! The kernel floor of an MQTT connect + disconnect (bench only, `bench/connect_floor.sh`):
//! one thread, one epoll, no sessions, no events, no allocation per packet beyond the
//! connection's small buffer. It accepts, reads one CONNECT, writes a fixed CONNACK,
//! reads until DISCONNECT (or EOF) and closes: the fewest syscalls any broker needs. A
//! broker's CPU per connect cannot go below this process's on the same machine, so it
//! says whether a target stated against another broker is reachable at all.
//!
//! The socket options a broker might choose are flags, to measure what each costs:
//! `--nodelay` (per accepted socket, on the listener so Linux copies it to every accepted
//! socket, or none), `--defer-accept` (`TCP_DEFER_ACCEPT`: accept returns once the
//! CONNECT is there, so it is read at once, without an epoll round), `--close` (right
//! after the DISCONNECT: this side holds TIME_WAIT; or after the client's EOF: the
//! client holds it) and `--linger0` (close with RST: no FIN exchange, no TIME_WAIT;
//! not something a broker should do, measured to see what the FIN work costs).
//!
//!     cargo build --release -p magnetite-loadtest --example connect_floor
//!     target/release/examples/connect_floor --port 1884 --nodelay listener

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use clap::{Parser, ValueEnum};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// CONNACK, session not present, accepted: 3.1.1.
const CONNACK_311: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
/// The same for 5.0, with an empty property list.
const CONNACK_5: [u8; 5] = [0x20, 0x03, 0x00, 0x00, 0x00];
const LISTENER: Token = Token(usize::MAX);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NoDelay {
    None,
    Accepted,
    Listener,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Close {
    /// As soon as the DISCONNECT is read.
    First,
    /// When the client's FIN (EOF) is read.
    AfterEof,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 1884)]
    port: u16,
    #[arg(long, value_enum, default_value_t = NoDelay::Accepted)]
    nodelay: NoDelay,
    #[arg(long)]
    defer_accept: bool,
    #[arg(long, value_enum, default_value_t = Close::AfterEof)]
    close: Close,
    #[arg(long)]
    linger0: bool,
}

/// One client: what it sent so far and whether it has had its CONNACK.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    acked: bool,
    /// Its DISCONNECT was read: only its EOF is awaited.
    disconnected: bool,
}

/// What a read left the connection in.
enum Next {
    Open,
    Close,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let mut listener = TcpListener::bind(addr)?;
    if args.nodelay == NoDelay::Listener {
        set_int_option(&listener, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    }
    if args.defer_accept {
        set_int_option(&listener, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 1)?;
    }
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut clients: HashMap<Token, Client> = HashMap::new();
    let mut next_token = 0usize;
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            // A tracer attaching (strace in bench/connect_floor.sh) interrupts the wait.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&args, &listener, &poll, &mut clients, &mut next_token)?;
                continue;
            }
            let token = event.token();
            let Some(client) = clients.get_mut(&token) else {
                continue;
            };
            if let Next::Close = read_client(&args, client) {
                if let Some(client) = clients.remove(&token) {
                    close(&args, client);
                }
            }
        }
    }
}

fn accept_all(
    args: &Args,
    listener: &TcpListener,
    poll: &Poll,
    clients: &mut HashMap<Token, Client>,
    next_token: &mut usize,
) -> std::io::Result<()> {
    loop {
        let (mut stream, _) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) => {
                eprintln!("accept: {e}");
                return Ok(());
            }
        };
        if args.nodelay == NoDelay::Accepted {
            stream.set_nodelay(true)?;
        }
        let token = Token(*next_token);
        *next_token = next_token.wrapping_add(1) % (usize::MAX - 1);
        poll.registry()
            .register(&mut stream, token, Interest::READABLE)?;
        let mut client = Client {
            stream,
            buf: Vec::new(),
            acked: false,
            disconnected: false,
        };
        // With TCP_DEFER_ACCEPT the CONNECT is already there: read it now.
        if args.defer_accept {
            if let Next::Close = read_client(args, &mut client) {
                close(args, client);
                continue;
            }
        }
        clients.insert(token, client);
    }
}

/// Reads what is there; answers a complete CONNECT; `Close` on DISCONNECT (with
/// `--close first`), EOF or an error.
fn read_client(args: &Args, client: &mut Client) -> Next {
    let mut chunk = [0u8; 512];
    loop {
        match client.stream.read(&mut chunk) {
            Ok(0) => return Next::Close,
            Ok(n) => client.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Open,
            Err(_) => return Next::Close,
        }
        while let Some(len) = packet_len(&client.buf) {
            let kind = client.buf[0] >> 4;
            let connack: &[u8] = match protocol_level(&client.buf[..len]) {
                Some(5) => &CONNACK_5,
                _ => &CONNACK_311,
            };
            client.buf.drain(..len);
            if kind == 1 && !client.acked {
                client.acked = true;
                if client.stream.write_all(connack).is_err() {
                    return Next::Close;
                }
            } else if kind == 14 {
                if args.close == Close::First {
                    return Next::Close;
                }
                client.disconnected = true;
            }
        }
        // Answered and nothing left over: no need for the EAGAIN read (edge-triggered
        // epoll reports the next arrival anyway). After the DISCONNECT its FIN may have
        // come with it, which no later edge would report: read on until EOF or EAGAIN.
        if client.acked && client.buf.is_empty() && !client.disconnected {
            return Next::Open;
        }
    }
}

/// The length of the first complete packet in `buf` (fixed header + remaining length).
fn packet_len(buf: &[u8]) -> Option<usize> {
    let mut remaining = 0usize;
    for (i, &b) in buf.iter().enumerate().skip(1).take(4) {
        remaining |= usize::from(b & 0x7f) << (7 * (i - 1));
        if b & 0x80 == 0 {
            let len = i + 1 + remaining;
            return (buf.len() >= len).then_some(len);
        }
    }
    None
}

/// A CONNECT's protocol level: after the fixed header, the 2-byte length and "MQTT".
fn protocol_level(packet: &[u8]) -> Option<u8> {
    let header = 1 + packet[1..].iter().take(4).position(|b| b & 0x80 == 0)? + 1;
    packet.get(header + 6).copied()
}

fn close(args: &Args, client: Client) {
    if args.linger0 {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        set_option(&client.stream, libc::SOL_SOCKET, libc::SO_LINGER, &linger);
    }
    drop(client);
}

fn set_int_option(fd: &impl AsRawFd, level: i32, name: i32, value: i32) -> std::io::Result<()> {
    if set_option(fd, level, name, &value) {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `setsockopt` of one plain value; `false` on failure.
fn set_option<T>(fd: &impl AsRawFd, level: i32, name: i32, value: &T) -> bool {
    let len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` points at a live `T` of `len` bytes for the duration of the call.
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    rc == 0
}
