//! The Avro records of RFC 9/ELCE (`0009-ep-*.avsc`) and RFC 15/EME
//! (`0015-ep-metadata-updated.avsc`), written here as schema JSON (names, namespaces,
//! field order and types as the RFCs give them; the `doc` strings left out, they do not
//! change the encoding) and encoded with `apache-avro` as a bare datum: the NATS message
//! body is the record's binary encoding, no container header.

use super::diff::{KeyUpdate, MetadataDiff};
use super::record::{KaaEvent, KaaRecord};
use crate::error::EventsError;
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

const COMMON_HEAD: &str = r#"{"name":"correlationId","type":"string"},
    {"name":"timestamp","type":"long"},
    {"name":"timeout","type":"long","default":0}"#;
const REPLICA: &str = r#"{"name":"originatorReplicaId","type":"string"}"#;

fn connectivity(name: &str) -> String {
    format!(
        r#"{{"namespace":"org.kaaproject.ipc.event.gen.v1.endpoint.connectivity","name":"{name}","type":"record","fields":[
    {COMMON_HEAD},
    {{"name":"endpoints","type":{{"type":"map","values":"string"}}}},
    {REPLICA}]}}"#
    )
}

fn lifecycle(name: &str, previous: bool) -> String {
    let previous = if previous {
        r#"{"name":"previousAppVersionName","type":"string"},"#
    } else {
        ""
    };
    format!(
        r#"{{"namespace":"org.kaaproject.ipc.event.gen.v1.endpoint.lifecycle","name":"{name}","type":"record","fields":[
    {COMMON_HEAD},
    {{"name":"appVersionName","type":"string"}},
    {previous}
    {{"name":"endpointId","type":"string"}},
    {REPLICA}]}}"#
    )
}

fn metadata_updated() -> String {
    format!(
        r#"{{"namespace":"org.kaaproject.ipc.event.gen.v1.endpoint.metadata","name":"MetadataUpdatedEvent","type":"record","fields":[
    {COMMON_HEAD},
    {{"name":"appVersionName","type":"string"}},
    {{"name":"endpointId","type":"string"}},
    {{"name":"removed","type":{{"type":"map","values":["null","string"]}}}},
    {{"name":"added","type":{{"type":"map","values":["null","string"]}}}},
    {{"name":"updated","type":{{"type":"map","values":{{"type":"record",
        "namespace":"org.kaaproject.ipc.event.gen.v1.endpoint.metadata","name":"MetadataKeyUpdatedDto","fields":[
        {{"name":"newValue","type":["null","string"]}},
        {{"name":"oldValue","type":["null","string"]}}]}}}}}},
    {REPLICA}]}}"#
    )
}

/// The six schemas in [`KaaRecord`] order, parsed once.
static SCHEMAS: LazyLock<Result<Vec<Schema>, String>> = LazyLock::new(|| {
    [
        connectivity("ConnectedEvent"),
        connectivity("DisconnectedEvent"),
        lifecycle("RegisteredEvent", false),
        lifecycle("UnregisteredEvent", false),
        lifecycle("AppVersionUpdatedEvent", true),
        metadata_updated(),
    ]
    .iter()
    .map(|text| Schema::parse_str(text).map_err(|e| e.to_string()))
    .collect()
});

/// The schema of `record`'s type.
pub fn schema(record: &KaaRecord) -> Result<&'static Schema, EventsError> {
    let index = match record {
        KaaRecord::Connected { .. } => 0,
        KaaRecord::Disconnected { .. } => 1,
        KaaRecord::Registered { .. } => 2,
        KaaRecord::Unregistered { .. } => 3,
        KaaRecord::AppVersionUpdated { .. } => 4,
        KaaRecord::MetadataUpdated { .. } => 5,
    };
    match &*SCHEMAS {
        Ok(all) => all
            .get(index)
            .ok_or_else(|| EventsError::Config("Kaa schema missing".into())),
        Err(e) => Err(EventsError::Config(format!("Kaa schema: {e}"))),
    }
}

/// The Avro binary datum of `ev` (the NATS message body).
pub fn encode(ev: &KaaEvent) -> Result<Vec<u8>, EventsError> {
    let schema = schema(&ev.record)?;
    let bad = |e: apache_avro::Error| EventsError::Config(format!("Kaa Avro encoding: {e}"));
    let writer = GenericDatumWriter::builder(schema).build().map_err(bad)?;
    writer.write_value_to_vec(value(ev)).map_err(bad)
}

/// The record as an Avro value, fields in schema order.
pub fn value(ev: &KaaEvent) -> Avro {
    let mut fields = vec![
        (
            "correlationId".to_string(),
            Avro::String(ev.correlation_id.clone()),
        ),
        ("timestamp".to_string(), Avro::Long(ev.timestamp)),
        ("timeout".to_string(), Avro::Long(0)),
    ];
    let s = |v: &str| Avro::String(v.to_string());
    match &ev.record {
        KaaRecord::Connected { endpoints } | KaaRecord::Disconnected { endpoints } => {
            let map = endpoints.iter().map(|(k, v)| (k.clone(), s(v)));
            fields.push(("endpoints".into(), Avro::Map(map.collect())));
        }
        KaaRecord::Registered {
            endpoint_id,
            app_version,
        }
        | KaaRecord::Unregistered {
            endpoint_id,
            app_version,
        } => {
            fields.push(("appVersionName".into(), s(app_version)));
            fields.push(("endpointId".into(), s(endpoint_id)));
        }
        KaaRecord::AppVersionUpdated {
            endpoint_id,
            app_version,
            previous_app_version,
        } => {
            fields.push(("appVersionName".into(), s(app_version)));
            fields.push(("previousAppVersionName".into(), s(previous_app_version)));
            fields.push(("endpointId".into(), s(endpoint_id)));
        }
        KaaRecord::MetadataUpdated {
            endpoint_id,
            app_version,
            diff,
        } => {
            fields.push(("appVersionName".into(), s(app_version)));
            fields.push(("endpointId".into(), s(endpoint_id)));
            fields.extend(diff_fields(diff));
        }
    }
    fields.push(("originatorReplicaId".into(), s(&ev.replica)));
    Avro::Record(fields)
}

fn diff_fields(diff: &MetadataDiff) -> [(String, Avro); 3] {
    [
        ("removed".into(), nullable_map(&diff.removed)),
        ("added".into(), nullable_map(&diff.added)),
        (
            "updated".into(),
            Avro::Map(diff.updated.iter().map(update_entry).collect()),
        ),
    ]
}

fn update_entry((key, update): (&String, &KeyUpdate)) -> (String, Avro) {
    let dto = Avro::Record(vec![
        ("newValue".into(), nullable(update.new.as_deref())),
        ("oldValue".into(), nullable(update.old.as_deref())),
    ]);
    (key.clone(), dto)
}

fn nullable_map(map: &BTreeMap<String, Option<String>>) -> Avro {
    let entries: HashMap<String, Avro> = map
        .iter()
        .map(|(k, v)| (k.clone(), nullable(v.as_deref())))
        .collect();
    Avro::Map(entries)
}

/// `["null","string"]`: branch 0 is null, branch 1 the JSON text.
fn nullable(v: Option<&str>) -> Avro {
    match v {
        None => Avro::Union(0, Box::new(Avro::Null)),
        Some(text) => Avro::Union(1, Box::new(Avro::String(text.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kaa::diff::metadata_diff;
    use apache_avro::reader::datum::GenericDatumReader;
    use serde_json::json;

    fn event(record: KaaRecord) -> KaaEvent {
        KaaEvent {
            originator: "magnetite".into(),
            replica: "inst-1".into(),
            correlation_id: "3f1c".into(),
            timestamp: 1_700_000_000_123,
            record,
        }
    }

    fn round_trip(ev: &KaaEvent) -> Avro {
        let bytes = encode(ev).expect("encode");
        let schema = schema(&ev.record).expect("schema");
        let reader = GenericDatumReader::builder(schema).build().expect("reader");
        reader.read_value(&mut &bytes[..]).expect("decode")
    }

    fn field<'a>(record: &'a Avro, name: &str) -> &'a Avro {
        let Avro::Record(fields) = record else {
            panic!("not a record: {record:?}");
        };
        &fields.iter().find(|(n, _)| n == name).expect(name).1
    }

    #[test]
    fn every_schema_parses() {
        assert_eq!(SCHEMAS.as_ref().expect("schemas").len(), 6);
    }

    #[test]
    fn connectivity_round_trips_with_the_common_fields() {
        let endpoints = BTreeMap::from([("gw".into(), "1.0".into()), ("d1".into(), "".into())]);
        let ev = event(KaaRecord::Disconnected { endpoints });
        let back = round_trip(&ev);
        assert_eq!(field(&back, "correlationId"), &Avro::String("3f1c".into()));
        assert_eq!(field(&back, "timestamp"), &Avro::Long(1_700_000_000_123));
        assert_eq!(field(&back, "timeout"), &Avro::Long(0));
        assert_eq!(
            field(&back, "originatorReplicaId"),
            &Avro::String("inst-1".into())
        );
        let Avro::Map(map) = field(&back, "endpoints") else {
            panic!("endpoints");
        };
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("gw"), Some(&Avro::String("1.0".into())));
    }

    #[test]
    fn lifecycle_round_trips() {
        let ev = event(KaaRecord::AppVersionUpdated {
            endpoint_id: "c1".into(),
            app_version: "2".into(),
            previous_app_version: "1".into(),
        });
        let back = round_trip(&ev);
        assert_eq!(field(&back, "appVersionName"), &Avro::String("2".into()));
        assert_eq!(
            field(&back, "previousAppVersionName"),
            &Avro::String("1".into())
        );
        assert_eq!(field(&back, "endpointId"), &Avro::String("c1".into()));
        for record in [
            KaaRecord::Registered {
                endpoint_id: "c1".into(),
                app_version: "".into(),
            },
            KaaRecord::Unregistered {
                endpoint_id: "c1".into(),
                app_version: "v".into(),
            },
        ] {
            let back = round_trip(&event(record));
            assert_eq!(field(&back, "endpointId"), &Avro::String("c1".into()));
        }
    }

    #[test]
    fn metadata_nulls_are_avro_nulls_and_values_json_text() {
        let diff = metadata_diff(
            &json!({"gone": {"a": [1]}, "n": 1}),
            &json!({"n": null, "new": "x"}),
        );
        let ev = event(KaaRecord::MetadataUpdated {
            endpoint_id: "c1".into(),
            app_version: "".into(),
            diff,
        });
        let back = round_trip(&ev);
        let Avro::Map(removed) = field(&back, "removed") else {
            panic!("removed");
        };
        assert_eq!(
            removed.get("gone"),
            Some(&Avro::Union(
                1,
                Box::new(Avro::String(r#"{"a":[1]}"#.into()))
            ))
        );
        let Avro::Map(added) = field(&back, "added") else {
            panic!("added");
        };
        assert_eq!(
            added.get("new"),
            Some(&Avro::Union(1, Box::new(Avro::String(r#""x""#.into()))))
        );
        let Avro::Map(updated) = field(&back, "updated") else {
            panic!("updated");
        };
        let n = updated.get("n").expect("n");
        assert_eq!(field(n, "newValue"), &Avro::Union(0, Box::new(Avro::Null)));
        assert_eq!(
            field(n, "oldValue"),
            &Avro::Union(1, Box::new(Avro::String("1".into())))
        );
    }
}
