//! A full disk, for real: the broker runs in its own user + mount namespace
//! (`unshare --user --map-root-user --mount`, no privileges needed) with its store on a
//! 1 MiB tmpfs; the test fills that tmpfs through `/proc/<pid>/root` until the kernel
//! answers ENOSPC, checks what is refused and what still works, frees the space and
//! checks the broker takes persistent state again. A loop device or a host tmpfs would
//! need root; an injected error would not exercise the real file, fsync and truncate.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use magnetite_broker::protocol::{reason, Packet, ProtocolVersion, QoS};

use crate::common::{self, Server};
use crate::mqtt::{payloads, Mqtt, V311, V5};
use crate::sessions::{connect, expect_ack, next, publish, try_connect};

/// Writes a script that starts `magnetite` with `<data_dir>/persistence` on a tmpfs of
/// its own mount namespace (it exists only as long as that process).
fn tmpfs_launcher(data_dir: &Path) -> PathBuf {
    let store = data_dir.join("persistence");
    std::fs::create_dir_all(&store).expect("create the store dir");
    let script = data_dir.join("tmpfs-magnetite.sh");
    let text = format!(
        "#!/bin/sh\nexec unshare --user --map-root-user --mount sh -c \
         'mount -t tmpfs -o size=1m,mode=0700 tmpfs \"$0\" && exec \"$@\"' '{}' '{}' \"$@\"\n",
        store.display(),
        env!("CARGO_BIN_EXE_magnetite"),
    );
    std::fs::write(&script, text).expect("write the launcher");
    let status = std::process::Command::new("chmod")
        .args(["755", &script.to_string_lossy()])
        .status()
        .expect("chmod");
    assert!(status.success());
    script
}

/// The broker's store dir as the test sees it: through its mount namespace.
fn store_seen_by(server: &Server) -> PathBuf {
    let inside = server.data_dir.join("persistence");
    let relative = inside.strip_prefix("/").expect("absolute data dir");
    Path::new("/proc")
        .join(server.pid().to_string())
        .join("root")
        .join(relative)
}

/// Fills the tmpfs until the kernel refuses (ENOSPC); returns the filler's path.
fn fill(server: &Server) -> PathBuf {
    let mounts = std::fs::read_to_string(format!("/proc/{}/mountinfo", server.pid()))
        .expect("the broker's mountinfo");
    let store = server.data_dir.join("persistence");
    assert!(
        mounts
            .lines()
            .any(|l| l.contains(&*store.to_string_lossy()) && l.contains("tmpfs")),
        "the store is not on the test's tmpfs:\n{mounts}"
    );
    let path = store_seen_by(server).join("filler");
    let mut file = std::fs::File::create(&path).expect("create the filler");
    let chunk = [0u8; 4096];
    loop {
        if let Err(err) = file.write_all(&chunk) {
            assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{err}");
            return path;
        }
    }
}

fn connack_code(server: &Server, version: ProtocolVersion, id: &str, clean: bool) -> u8 {
    try_connect(server.mqtt, version, id, clean).1.code
}

/// QoS 1 PUBLISHes of `payload` with packet ids from 1 until one is refused with 0x97;
/// returns the id of the refused one. Under `batched` the write that fails runs after
/// its PUBACK, so a few may be accepted first; under `sync` none is.
fn publish_until_refused(publ: &mut Mqtt, payload: &str) -> u16 {
    for pkid in 1..=500 {
        publish(publ, "full/a", payload, QoS::AtLeastOnce, pkid, false);
        match next(publ) {
            Packet::PubAck(ack) if ack.code == reason::QUOTA_EXCEEDED => return pkid,
            Packet::PubAck(ack) => assert_eq!(ack.code, 0, "{ack:?}"),
            other => panic!("expected PUBACK, got {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no PUBLISH was refused on a full disk");
}

fn full_disk_refuses_and_recovers(policy: &str) {
    let data_dir = common::temp_data_dir();
    let launcher = tmpfs_launcher(&data_dir);
    let server = Server::start(
        &launcher.to_string_lossy(),
        data_dir,
        &["--auth", "none", "--persistence", policy],
    );
    let (mut sink, _) = connect(server.mqtt, V5, "full-sink", false);
    assert_eq!(sink.subscribe("full/#"), vec![1]);
    sink.disconnect();
    let filler = fill(&server);

    // Larger than a page, so no half-used tmpfs page can take it.
    let big = |name: &str| format!("{name}:{}", "x".repeat(8192));
    let (mut publ, _) = connect(server.mqtt, V5, "full-pub", true);
    let refused = publish_until_refused(&mut publ, &big("a"));
    if policy == "sync" {
        assert_eq!(refused, 1, "sync acknowledged a write that failed");
    }
    publish(
        &mut publ,
        "full/b",
        &big("b"),
        QoS::ExactlyOnce,
        1000,
        false,
    );
    expect_ack(&mut publ, Packet::PubRec, 1000, reason::QUOTA_EXCEEDED);
    let persistent_v5 = connack_code(&server, V5, "full-dev", false);
    assert_eq!(persistent_v5, reason::QUOTA_EXCEEDED);
    let persistent_v311 = connack_code(&server, V311, "full-dev", false);
    assert_eq!(persistent_v311, reason::v3::SERVER_UNAVAILABLE);
    // Clean sessions never touch the store: still served.
    assert_eq!(connack_code(&server, V311, "full-clean", true), 0);
    assert!(publ.alive(), "the publisher was disconnected");
    assert!(crate::metric(&server, "magnetite_persistence_refused_total") >= 4);
    assert!(crate::metric(&server, "magnetite_persistence_write_errors_total") >= 1);

    std::fs::remove_file(&filler).expect("free the space");
    // The writer retries its backlog; persistent state is taken once a write succeeds.
    let accepted = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        connack_code(&server, V5, "full-dev", false) == 0
    });
    assert!(
        accepted,
        "persistent CONNECT still refused after space returned"
    );
    publish(&mut publ, "full/c", "after", QoS::AtLeastOnce, 1001, false);
    expect_ack(&mut publ, Packet::PubAck, 1001, 0);
    let (mut sink, present) = connect(server.mqtt, V5, "full-sink", false);
    assert!(present);
    let got = sink.until("after");
    assert!(
        !payloads(&got).iter().any(|p| p.starts_with("b:")),
        "a QoS 2 message refused before routing was delivered"
    );
}

#[test]
fn a_full_disk_refuses_new_persistent_state_with_a_reason_and_recovers_sync() {
    full_disk_refuses_and_recovers("sync");
}

#[test]
fn a_full_disk_refuses_new_persistent_state_with_a_reason_and_recovers_batched() {
    full_disk_refuses_and_recovers("batched");
}
