"""Decodes Kaa endpoint events with fastavro, independently of the broker's Avro library.

stdin: a JSON list of {"subject": ..., "payload": "<hex>"}.
stdout: a JSON list of {"subject": ..., "record": {...}} (maps as objects, Avro null as null).
Exits 1 when a subject is not a Kaa endpoint subject, a payload does not decode with the
schema of its subject, or bytes are left over after the record.

The schemas are transcribed from kaaproject/kaa-rfcs 0009/*.avsc and 0015/*.avsc
(names, namespaces, field order, types, defaults; doc strings left out).
"""
import io
import json
import sys

import fastavro


def common_head():
    return [
        {"name": "correlationId", "type": "string"},
        {"name": "timestamp", "type": "long"},
        {"name": "timeout", "type": "long", "default": 0},
    ]


REPLICA = {"name": "originatorReplicaId", "type": "string"}
CONNECTIVITY_NS = "org.kaaproject.ipc.event.gen.v1.endpoint.connectivity"
LIFECYCLE_NS = "org.kaaproject.ipc.event.gen.v1.endpoint.lifecycle"
METADATA_NS = "org.kaaproject.ipc.event.gen.v1.endpoint.metadata"


def connectivity(name):
    return {
        "namespace": CONNECTIVITY_NS, "name": name, "type": "record",
        "fields": common_head() + [
            {"name": "endpoints", "type": {"type": "map", "values": "string"}},
            REPLICA,
        ],
    }


def lifecycle(name, previous=False):
    fields = common_head() + [{"name": "appVersionName", "type": "string"}]
    if previous:
        fields.append({"name": "previousAppVersionName", "type": "string"})
    fields += [{"name": "endpointId", "type": "string"}, REPLICA]
    return {"namespace": LIFECYCLE_NS, "name": name, "type": "record", "fields": fields}


METADATA_UPDATED = {
    "namespace": METADATA_NS, "name": "MetadataUpdatedEvent", "type": "record",
    "fields": common_head() + [
        {"name": "appVersionName", "type": "string"},
        {"name": "endpointId", "type": "string"},
        {"name": "removed", "type": {"type": "map", "values": ["null", "string"]}},
        {"name": "added", "type": {"type": "map", "values": ["null", "string"]}},
        {"name": "updated", "type": {"type": "map", "values": {
            "type": "record", "namespace": METADATA_NS, "name": "MetadataKeyUpdatedDto",
            "fields": [
                {"name": "newValue", "type": ["null", "string"]},
                {"name": "oldValue", "type": ["null", "string"]},
            ]}}},
        REPLICA,
    ],
}

SCHEMAS = {
    ("connectivity", "connected"): connectivity("ConnectedEvent"),
    ("connectivity", "disconnected"): connectivity("DisconnectedEvent"),
    ("lifecycle", "registered"): lifecycle("RegisteredEvent"),
    ("lifecycle", "unregistered"): lifecycle("UnregisteredEvent"),
    ("lifecycle", "appversion-updated"): lifecycle("AppVersionUpdatedEvent", previous=True),
    ("metadata", "updated"): METADATA_UPDATED,
}
PARSED = {k: fastavro.parse_schema(v) for k, v in SCHEMAS.items()}


def decode(subject, payload):
    parts = subject.split(".")
    if len(parts) != 7 or parts[:3] != ["kaa", "v1", "events"] or parts[4] != "endpoint":
        raise ValueError(f"not a Kaa endpoint event subject: {subject}")
    schema = PARSED.get((parts[5], parts[6]))
    if schema is None:
        raise ValueError(f"no schema for {subject}")
    buf = io.BytesIO(payload)
    record = fastavro.schemaless_reader(buf, schema)
    if buf.tell() != len(payload):
        raise ValueError(f"{len(payload) - buf.tell()} bytes left after the record on {subject}")
    return record


def main():
    out = []
    for message in json.load(sys.stdin):
        try:
            record = decode(message["subject"], bytes.fromhex(message["payload"]))
        except Exception as e:  # report and fail: the test prints stderr
            print(f"decode failed: {e}", file=sys.stderr)
            return 1
        out.append({"subject": message["subject"], "record": record})
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
