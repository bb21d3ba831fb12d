//! The Kaa records as this crate keeps them in the outbox: one [`KaaEvent`] per row of
//! the `kaa` stream, its canonical JSON (serde) readable by `GET /events`, turned into
//! the RFC's Avro record only when shipped ([`super::avro`]).

use super::diff::MetadataDiff;
use crate::model::{Event, Service};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One Kaa event with the fields every record shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KaaEvent {
    /// The subject's originator token.
    pub originator: String,
    /// `originatorReplicaId`: the instance that saw the change.
    pub replica: String,
    /// `correlationId`: a fresh UUID per event (kept across re-shipments).
    pub correlation_id: String,
    /// `timestamp`: Unix ms of the change.
    pub timestamp: i64,
    /// What happened (`timeout` is always 0: Kaa events here never expire).
    #[serde(flatten)]
    pub record: KaaRecord,
}

/// The six event types, tagged in JSON by `kaa` = `<group>.<type>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kaa")]
pub enum KaaRecord {
    /// connectivity/connected: endpoints that opened a session (id -> app version).
    #[serde(rename = "connectivity.connected")]
    Connected { endpoints: BTreeMap<String, String> },
    /// connectivity/disconnected: every endpoint a connection served, in one event.
    #[serde(rename = "connectivity.disconnected")]
    Disconnected { endpoints: BTreeMap<String, String> },
    /// lifecycle/registered: a client was created.
    #[serde(rename = "lifecycle.registered")]
    Registered {
        endpoint_id: String,
        app_version: String,
    },
    /// lifecycle/unregistered: a client was deleted.
    #[serde(rename = "lifecycle.unregistered")]
    Unregistered {
        endpoint_id: String,
        app_version: String,
    },
    /// lifecycle/appversion-updated: the app-version metadata key changed.
    #[serde(rename = "lifecycle.appversion-updated")]
    AppVersionUpdated {
        endpoint_id: String,
        app_version: String,
        previous_app_version: String,
    },
    /// metadata/updated (15/EME): a non-empty metadata diff.
    #[serde(rename = "metadata.updated")]
    MetadataUpdated {
        endpoint_id: String,
        app_version: String,
        diff: MetadataDiff,
    },
}

impl KaaRecord {
    /// `{event-group}` and `{event-type}` of the subject.
    pub fn group_and_type(&self) -> (&'static str, &'static str) {
        match self {
            KaaRecord::Connected { .. } => ("connectivity", "connected"),
            KaaRecord::Disconnected { .. } => ("connectivity", "disconnected"),
            KaaRecord::Registered { .. } => ("lifecycle", "registered"),
            KaaRecord::Unregistered { .. } => ("lifecycle", "unregistered"),
            KaaRecord::AppVersionUpdated { .. } => ("lifecycle", "appversion-updated"),
            KaaRecord::MetadataUpdated { .. } => ("metadata", "updated"),
        }
    }
}

impl KaaEvent {
    /// The NATS subject it is published on.
    pub fn subject(&self) -> String {
        let (group, kind) = self.record.group_and_type();
        super::subject(&self.originator, group, kind)
    }

    /// The outbox row: stream `kaa`, this event's JSON, readable by `domain`'s members
    /// from `GET /events`.
    pub fn into_outbox_event(self, domain: Option<&str>) -> Event {
        let fields = match serde_json::to_value(&self) {
            Ok(Value::Object(fields)) => fields,
            // A struct of strings, numbers and maps always serializes to an object.
            _ => serde_json::Map::new(),
        };
        Event {
            service: Service::Kaa,
            fields,
            domain: domain.map(str::to_string),
            // Kaa rows name no entity field, so scoped consumers see them by domain only.
            ancestors: Vec::new(),
        }
    }

    /// Reads an outbox row's payload back.
    pub fn from_outbox_fields(
        fields: &serde_json::Map<String, Value>,
    ) -> Result<KaaEvent, serde_json::Error> {
        serde_json::from_value(Value::Object(fields.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kaa::diff::metadata_diff;
    use serde_json::json;

    fn event(record: KaaRecord) -> KaaEvent {
        KaaEvent {
            originator: "magnetite".into(),
            replica: "inst".into(),
            correlation_id: "c".into(),
            timestamp: 1,
            record,
        }
    }

    #[test]
    fn every_record_goes_through_the_outbox_json_unchanged() {
        let records = [
            KaaRecord::Connected {
                endpoints: BTreeMap::from([("a".into(), "1".into())]),
            },
            KaaRecord::Disconnected {
                endpoints: BTreeMap::new(),
            },
            KaaRecord::Registered {
                endpoint_id: "a".into(),
                app_version: "".into(),
            },
            KaaRecord::Unregistered {
                endpoint_id: "a".into(),
                app_version: "v".into(),
            },
            KaaRecord::AppVersionUpdated {
                endpoint_id: "a".into(),
                app_version: "2".into(),
                previous_app_version: "1".into(),
            },
            KaaRecord::MetadataUpdated {
                endpoint_id: "a".into(),
                app_version: "2".into(),
                diff: metadata_diff(&json!({"x": 1, "y": null}), &json!({"x": 2, "z": null})),
            },
        ];
        for record in records {
            let ev = event(record);
            let row = ev.clone().into_outbox_event(Some("d1"));
            assert_eq!(row.service, Service::Kaa);
            assert_eq!(row.domain.as_deref(), Some("d1"));
            assert_eq!(
                KaaEvent::from_outbox_fields(&row.fields).expect("parse"),
                ev
            );
        }
    }

    #[test]
    fn the_subject_names_group_and_type() {
        let ev = event(KaaRecord::AppVersionUpdated {
            endpoint_id: "a".into(),
            app_version: "2".into(),
            previous_app_version: "1".into(),
        });
        assert_eq!(
            ev.subject(),
            "kaa.v1.events.magnetite.endpoint.lifecycle.appversion-updated"
        );
    }
}
