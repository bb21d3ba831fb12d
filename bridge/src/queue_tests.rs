use std::time::Duration;

use super::*;

fn limits(max_bytes: u64) -> QueueLimits {
    QueueLimits {
        max_bytes,
        max_age: Duration::from_secs(3600),
    }
}

fn open(dir: &Path, max_bytes: u64) -> (Queue, Arc<BridgeStats>) {
    let stats = Arc::new(BridgeStats::default());
    (
        Queue::open(dir, limits(max_bytes), Arc::clone(&stats)).unwrap(),
        stats,
    )
}

fn read_all(queue: &Queue, cursor: &mut Cursor) -> Vec<Record> {
    std::iter::from_fn(|| queue.next(cursor).unwrap()).collect()
}

#[test]
fn records_come_back_in_order_and_released_ones_do_not_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, stats) = open(dir.path(), 1 << 20);
    for i in 0..5u8 {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        assert_eq!(
            queue.append(&format!("t/{i}"), &[i], qos, i == 4).unwrap(),
            Appended::Queued(u64::from(i) + 1)
        );
    }
    assert_eq!(stats.backlog_messages.load(Ordering::Relaxed), 5);
    let mut cursor = queue.cursor();
    let records = read_all(&queue, &mut cursor);
    assert_eq!(
        records.iter().map(|r| r.topic.as_str()).collect::<Vec<_>>(),
        ["t/0", "t/1", "t/2", "t/3", "t/4"]
    );
    assert_eq!(records[1].qos, QoS::ExactlyOnce);
    assert!(records[4].retain && !records[3].retain);
    assert_eq!(&records[2].payload[..], &[2]);
    let two: u64 = records[..2].iter().map(Record::size).sum();
    queue
        .release_through(2, 2, two, Some(records[2].written_ms))
        .unwrap();
    assert_eq!(stats.backlog_messages.load(Ordering::Relaxed), 3);
    drop(queue);

    let (queue, stats) = open(dir.path(), 1 << 20);
    assert_eq!(stats.backlog_messages.load(Ordering::Relaxed), 3);
    assert_eq!(
        stats.backlog_bytes.load(Ordering::Relaxed),
        records[2..].iter().map(Record::size).sum::<u64>()
    );
    let mut cursor = queue.cursor();
    assert_eq!(read_all(&queue, &mut cursor), records[2..].to_vec());
    assert_eq!(
        queue.append("t/5", b"", QoS::AtLeastOnce, false).unwrap(),
        Appended::Queued(6)
    );
    assert_eq!(
        read_all(&queue, &mut cursor).len(),
        1,
        "the cursor follows into the new segment"
    );
}

#[test]
fn a_full_queue_refuses_and_a_release_makes_room() {
    let dir = tempfile::tempdir().unwrap();
    let one = (HEADER + BODY_FIXED + 1 + 10) as u64;
    let (queue, _) = open(dir.path(), 2 * one);
    assert!(matches!(
        queue
            .append("a", &[0; 10], QoS::AtLeastOnce, false)
            .unwrap(),
        Appended::Queued(1)
    ));
    assert!(matches!(
        queue
            .append("a", &[0; 10], QoS::AtLeastOnce, false)
            .unwrap(),
        Appended::Queued(2)
    ));
    assert_eq!(
        queue
            .append("a", &[0; 10], QoS::AtLeastOnce, false)
            .unwrap(),
        Appended::Full
    );
    queue.release_through(1, 1, one, None).unwrap();
    assert!(matches!(
        queue
            .append("a", &[0; 10], QoS::AtLeastOnce, false)
            .unwrap(),
        Appended::Queued(3)
    ));
}

#[test]
fn a_torn_tail_costs_only_the_torn_record() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, _) = open(dir.path(), 1 << 20);
    for i in 0..3u8 {
        queue
            .append("t", &[i; 100], QoS::AtLeastOnce, false)
            .unwrap();
    }
    drop(queue);
    let segment = segment_path(dir.path(), 1);
    let len = std::fs::metadata(&segment).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let (queue, stats) = open(dir.path(), 1 << 20);
    assert_eq!(stats.backlog_messages.load(Ordering::Relaxed), 2);
    queue
        .append("t", b"after", QoS::AtLeastOnce, false)
        .unwrap();
    let mut cursor = queue.cursor();
    let payloads: Vec<_> = read_all(&queue, &mut cursor)
        .into_iter()
        .map(|r| r.payload)
        .collect();
    assert_eq!(payloads.len(), 3);
    assert_eq!(&payloads[2][..], b"after");
}

#[test]
fn released_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, stats) = open(dir.path(), 1 << 30);
    let payload = vec![7u8; 1 << 20];
    for _ in 0..20 {
        queue
            .append("big", &payload, QoS::AtLeastOnce, false)
            .unwrap();
    }
    assert!(list_segments(dir.path()).unwrap().len() >= 3);
    let mut cursor = queue.cursor();
    let records = read_all(&queue, &mut cursor);
    assert_eq!(records.len(), 20);
    let bytes = records.iter().map(Record::size).sum();
    queue.release_through(20, 20, bytes, None).unwrap();
    assert_eq!(
        list_segments(dir.path()).unwrap().len(),
        1,
        "only the open segment is left"
    );
    assert_eq!(stats.backlog_messages.load(Ordering::Relaxed), 0);
    assert_eq!(stats.oldest_age(), Duration::ZERO);
}

/// Three records as the first release of the queue wrote them (format 0, before
/// properties were kept): `site/t0` "a" QoS 1; `site/t1` [0,1,2] QoS 2 retained; `x`
/// "" QoS 1; written at 1_700_000_000_000 ms + 0, 500, 1000.
const FORMAT0_SEGMENT: &[u8] = include_bytes!("../fixtures/queue-format0.seg");

#[test]
fn a_segment_of_the_previous_format_is_still_read_and_plain_records_keep_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(segment_path(dir.path(), 1), FORMAT0_SEGMENT).unwrap();
    let (queue, stats) = open(dir.path(), 1 << 20);
    assert_eq!(stats.backlog_messages.load(Ordering::Relaxed), 3);
    assert_eq!(
        stats.backlog_bytes.load(Ordering::Relaxed),
        FORMAT0_SEGMENT.len() as u64
    );
    let mut cursor = queue.cursor();
    let records = read_all(&queue, &mut cursor);
    let seen: Vec<_> = records
        .iter()
        .map(|r| (r.seq, r.topic.as_str(), &r.payload[..], r.qos, r.retain))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "site/t0", &b"a"[..], QoS::AtLeastOnce, false),
            (2, "site/t1", &[0, 1, 2][..], QoS::ExactlyOnce, true),
            (3, "x", &b""[..], QoS::AtLeastOnce, false),
        ]
    );
    assert!(records.iter().all(|r| r.properties.is_none()));
    assert_eq!(records[1].written_ms, 1_700_000_000_500);
    // A message without properties is still written byte for byte as then.
    let mut written = Vec::new();
    for record in &records {
        let mut buf = Vec::new();
        let new = NewRecord {
            topic: &record.topic,
            payload: &record.payload,
            qos: record.qos,
            retain: record.retain,
            properties: None,
        };
        encode(record.seq, record.written_ms, &new, &mut buf).unwrap();
        written.extend_from_slice(&buf);
    }
    assert_eq!(written, FORMAT0_SEGMENT);
}

#[test]
fn properties_cross_the_queue_and_a_reopen_beside_plain_records() {
    use bytes::Bytes;
    use magnetite_protocol::Properties;

    let dir = tempfile::tempdir().unwrap();
    let (queue, stats) = open(dir.path(), 1 << 20);
    let properties = Properties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(30),
        content_type: Some("application/json".into()),
        response_topic: Some("reply/1".into()),
        correlation_data: Some(Bytes::from_static(&[9, 8, 7])),
        user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
        ..Properties::default()
    };
    let rich = NewRecord {
        topic: "t/rich",
        payload: b"{}",
        qos: QoS::ExactlyOnce,
        retain: false,
        properties: Some(&properties),
    };
    queue
        .append("t/plain", b"p", QoS::AtLeastOnce, false)
        .unwrap();
    queue.append_record(&rich).unwrap();
    let empty = Properties::default();
    queue
        .append_record(&NewRecord {
            properties: Some(&empty),
            ..rich
        })
        .unwrap();
    let mut cursor = queue.cursor();
    let records = read_all(&queue, &mut cursor);
    assert_eq!(records[0].properties, None);
    assert_eq!(records[1].properties.as_deref(), Some(&properties));
    assert_eq!(&records[1].payload[..], b"{}");
    assert_eq!(records[2].properties, None, "empty properties are none");
    assert!(records[1].size() > records[2].size());
    assert_eq!(
        stats.backlog_bytes.load(Ordering::Relaxed),
        records.iter().map(Record::size).sum::<u64>()
    );
    drop(queue);
    let (queue, stats) = open(dir.path(), 1 << 20);
    assert_eq!(
        stats.backlog_bytes.load(Ordering::Relaxed),
        records.iter().map(Record::size).sum::<u64>()
    );
    let mut cursor = queue.cursor();
    assert_eq!(read_all(&queue, &mut cursor), records);
}

#[test]
fn a_pubrec_mark_lasts_until_its_record_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, _) = open(dir.path(), 1 << 20);
    for _ in 0..3 {
        queue.append("t", b"x", QoS::ExactlyOnce, false).unwrap();
    }
    queue.set_pubrec(2, true).unwrap();
    drop(queue);
    let (queue, _) = open(dir.path(), 1 << 20);
    assert!(queue.pubrec_received(2) && !queue.pubrec_received(1));
    let mut cursor = queue.cursor();
    let records = read_all(&queue, &mut cursor);
    let two: u64 = records[..2].iter().map(Record::size).sum();
    queue.release_through(2, 2, two, None).unwrap();
    assert!(!queue.pubrec_received(2));
    drop(queue);
    let (queue, _) = open(dir.path(), 1 << 20);
    assert!(!queue.pubrec_received(2));
}
