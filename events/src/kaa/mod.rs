//! Kaa endpoint events (kaa-rfcs 9/ELCE and 15/EME): connectivity connected /
//! disconnected, lifecycle registered / unregistered / appversion-updated, metadata
//! updated, as Avro records on NATS subjects
//! `kaa.v1.events.<originator>.endpoint.<group>.<type>`.
//!
//! They travel like every other event: a writer appends a [`KaaEvent`] to the outbox as
//! a row of the stream [`STREAM`] (its canonical JSON, so `GET /events` can show it and a
//! crash loses nothing); the NATS shipper turns the row into the Avro record
//! ([`avro::encode`]) and publishes it on [`subject`]. Other sinks pass these rows over.
//! Every row carries its originator and replica, so whichever instance ships it the
//! event says who made it.
//!
//! Mapping to the platform: endpoint = platform client, app version = the value of one
//! client metadata key ([`app_version`]), originator = `magnetite` (a setting),
//! replica = the instance id.

pub mod avro;
pub mod diff;
pub mod record;

pub use diff::{metadata_diff, KeyUpdate, MetadataDiff};
pub use record::{KaaEvent, KaaRecord};

use serde_json::Value;

/// The outbox stream of Kaa events (never shipped by Redis or RabbitMQ).
pub const STREAM: &str = "kaa";

/// Who stamps the events: the originator service name (a NATS subject token) and the
/// replica id (the instance id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KaaOrigin {
    /// `{originator-service-instance-name}` of the subject.
    pub originator: String,
    /// `originatorReplicaId` of every record.
    pub replica: String,
}

impl KaaOrigin {
    /// Checks that `originator` can stand as one NATS subject token.
    pub fn new(originator: &str, replica: &str) -> Result<KaaOrigin, crate::EventsError> {
        if !is_subject_token(originator) {
            return Err(crate::EventsError::Config(format!(
                "Kaa originator {originator:?} must be one NATS subject token (no '.', '*', '>' or spaces)"
            )));
        }
        Ok(KaaOrigin {
            originator: originator.to_string(),
            replica: replica.to_string(),
        })
    }

    /// A fresh event of `record` stamped now, ready for the outbox.
    pub fn event(&self, record: KaaRecord) -> KaaEvent {
        KaaEvent {
            originator: self.originator.clone(),
            replica: self.replica.clone(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
            timestamp: now_ms(),
            record,
        }
    }
}

/// `kaa.v1.events.<originator>.endpoint.<group>.<type>` (RFC 9, "NATS subject format").
pub fn subject(originator: &str, group: &str, kind: &str) -> String {
    format!("kaa.v1.events.{originator}.endpoint.{group}.{kind}")
}

/// Whether `s` is usable as one token of a NATS subject.
pub fn is_subject_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control())
}

/// The app version of an endpoint: the value of `key` in its metadata. A string is
/// taken as is, any other JSON value as its JSON text; absent or JSON null is the empty
/// string (the RFC fields are non-null strings).
pub fn app_version(metadata: &Value, key: &str) -> String {
    match metadata.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A Kaa event ready for NATS: its subject and Avro body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KaaMessage {
    /// `kaa.v1.events.<originator>.endpoint.<group>.<type>`.
    pub subject: String,
    /// The record's Avro binary encoding.
    pub body: Vec<u8>,
}

/// The NATS message of an outbox row of the `kaa` stream (its payload's fields).
pub fn message(fields: &serde_json::Map<String, Value>) -> Result<KaaMessage, crate::EventsError> {
    let ev = KaaEvent::from_outbox_fields(fields)
        .map_err(|e| crate::EventsError::Config(format!("Kaa outbox row: {e}")))?;
    Ok(KaaMessage {
        subject: ev.subject(),
        body: avro::encode(&ev)?,
    })
}

/// Current time in Unix milliseconds (the records' `timestamp`).
pub fn now_ms() -> i64 {
    crate::model::now_ns() / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subjects_follow_rfc_9() {
        assert_eq!(
            subject("magnetite", "connectivity", "connected"),
            "kaa.v1.events.magnetite.endpoint.connectivity.connected"
        );
        assert_eq!(
            subject("edge-1", "metadata", "updated"),
            "kaa.v1.events.edge-1.endpoint.metadata.updated"
        );
    }

    #[test]
    fn the_originator_must_be_one_subject_token() {
        assert!(KaaOrigin::new("magnetite", "i").is_ok());
        for bad in ["", "a.b", "a*", ">", "a b", "x\n"] {
            assert!(KaaOrigin::new(bad, "i").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn app_version_reads_the_key_as_text() {
        let md = json!({"app_version": "1.2", "n": 3, "nil": null, "o": {"a": 1}});
        assert_eq!(app_version(&md, "app_version"), "1.2");
        assert_eq!(app_version(&md, "n"), "3");
        assert_eq!(app_version(&md, "nil"), "");
        assert_eq!(app_version(&md, "missing"), "");
        assert_eq!(app_version(&md, "o"), r#"{"a":1}"#);
        assert_eq!(app_version(&json!([1]), "app_version"), "");
    }

    #[test]
    fn events_get_fresh_correlation_ids() {
        let origin = KaaOrigin::new("magnetite", "inst-1").expect("origin");
        let rec = KaaRecord::Registered {
            endpoint_id: "c1".into(),
            app_version: "v1".into(),
        };
        let (a, b) = (origin.event(rec.clone()), origin.event(rec));
        assert_ne!(a.correlation_id, b.correlation_id);
        assert_eq!(a.replica, "inst-1");
        assert!(a.timestamp > 1_600_000_000_000);
    }
}
