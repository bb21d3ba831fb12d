"""Packet comparison "by meaning" for mosquitto's broker tests run against Magnetite.

mosquitto's tests compare the bytes the broker sends with the bytes mosquitto 2.0 would
send. Where the spec leaves the broker a choice, Magnetite chooses differently, so this
module replaces mosq_test.expect_packet: it reads one whole MQTT packet and accepts it
when it differs only in these documented ways (README "Conformance"):

- CONNACK properties that announce server limits and features (Receive Maximum, Topic
  Alias Maximum, Maximum Packet Size, Maximum QoS, Retain / Wildcard / Subscription
  Identifier / Shared Subscription Available): Magnetite announces its own, legal,
  values; Assigned Client Identifier is compared by presence (it is random).
- Reason Strings (0x1F) on any packet: Magnetite explains its refusals.
- PUBACK / PUBREC 0x10 No matching subscribers where mosquitto says 0x00.
- DISCONNECT 0x81 Malformed Packet vs 0x82 Protocol Error: both close the connection
  for a broken packet; the spec assigns some cases to one or the other and the two
  brokers classify a few cases differently.

Every accepted difference is logged as "MEANING:" so the runner can count them.
"""

import struct
import sys

LIMIT_PROPERTIES = {0x21, 0x22, 0x27, 0x24, 0x25, 0x28, 0x29, 0x2A}
REASON_STRING = 0x1F
ASSIGNED_ID = 0x12
# property id -> value size in bytes; None = UTF-8 string / binary, "pair" = user property,
# "varint" = variable byte integer.
SIZES = {0x01: 1, 0x02: 4, 0x03: None, 0x08: None, 0x09: None, 0x0B: "varint",
         0x11: 4, 0x12: None, 0x13: 2, 0x15: None, 0x16: None, 0x17: 1, 0x18: 4,
         0x19: 1, 0x1A: None, 0x1C: None, 0x1F: None, 0x21: 2, 0x22: 2, 0x23: 2,
         0x24: 1, 0x25: 1, 0x26: "pair", 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1}


def read_varint(data, i):
    value, shift = 0, 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def parse_properties(data):
    """List of (id, raw value bytes), or raises on anything unexpected."""
    props, i = [], 0
    while i < len(data):
        pid = data[i]
        i += 1
        size = SIZES[pid]
        start = i
        if size == "varint":
            _, i = read_varint(data, i)
        elif size == "pair":
            for _ in range(2):
                (n,) = struct.unpack("!H", data[i:i + 2])
                i += 2 + n
        elif size is None:
            (n,) = struct.unpack("!H", data[i:i + 2])
            i += 2 + n
        else:
            i += size
        if i > len(data):
            raise ValueError("truncated property")
        props.append((pid, data[start:i]))
    return props


def split(packet):
    """(first byte, body) of one whole packet."""
    length, i = read_varint(packet, 1)
    if len(packet) != i + length:
        raise ValueError("not one whole packet")
    return packet[0], packet[i:]


def meaningful(props, ignore):
    kept = []
    for pid, value in props:
        if pid in ignore:
            continue
        kept.append((pid, b"" if pid == ASSIGNED_ID else value))
    return sorted(kept)


def props_and_rest(body):
    """Properties (length-prefixed) at the start of body, and what follows."""
    length, i = read_varint(body, 0)
    return parse_properties(body[i:i + length]), body[i + length:]


def same_meaning(recvd, expected):
    """None if not equivalent, else a short note of the accepted difference."""
    rtype, rbody = split(recvd)
    etype, ebody = split(expected)
    if rtype != etype:
        return None
    kind = rtype >> 4
    if kind == 2 and len(rbody) > 2 and len(ebody) > 2:  # 5.0 CONNACK
        if rbody[:2] != ebody[:2]:
            return None
        r, e = props_and_rest(rbody[2:])[0], props_and_rest(ebody[2:])[0]
        ignore = LIMIT_PROPERTIES | {REASON_STRING}
        if meaningful(r, ignore) == meaningful(e, ignore):
            return "CONNACK limits/reason string"
        return None
    if kind in (4, 5, 6, 7, 14):  # acks, DISCONNECT: [id] code [properties]
        offset = 0 if kind == 14 else 2
        if rbody[:offset] != ebody[:offset]:
            return None
        rcode = rbody[offset] if len(rbody) > offset else 0
        ecode = ebody[offset] if len(ebody) > offset else 0
        rprops = props_and_rest(rbody[offset + 1:])[0] if len(rbody) > offset + 1 else []
        eprops = props_and_rest(ebody[offset + 1:])[0] if len(ebody) > offset + 1 else []
        if meaningful(rprops, {REASON_STRING}) != meaningful(eprops, {REASON_STRING}):
            return None
        if rcode == ecode:
            return "reason string"
        if kind in (4, 5) and {rcode, ecode} == {0x00, 0x10}:
            return "0x10 no matching subscribers"
        if kind == 14 and {rcode, ecode} == {0x81, 0x82}:
            return "DISCONNECT 0x81/0x82"
        return None
    if kind in (9, 11) and rbody[:2] == ebody[:2]:  # 5.0 SUBACK / UNSUBACK
        (r, rrest), (e, erest) = props_and_rest(rbody[2:]), props_and_rest(ebody[2:])
        if rrest == erest and meaningful(r, {REASON_STRING}) == meaningful(e, {REASON_STRING}):
            return "reason string"
    return None


def read_packet(sock, expected_len):
    """One whole packet from sock (or what arrives before it closes)."""
    data = sock.recv(1)
    if not data:
        return data
    while True:
        more = sock.recv(1)
        if not more:
            return data
        data += more
        if not more[0] & 0x80 or len(data) == 5:
            break
    length, i = read_varint(data, 1)
    while len(data) < i + length:
        more = sock.recv(i + length - len(data))
        if not more:
            break
        data += more
    return data


def install(mosq_test):
    original_matches = mosq_test.packet_matches

    def packet_matches(name, recvd, expected):
        if recvd == expected:
            return True
        try:
            note = same_meaning(recvd, expected)
        except (ValueError, IndexError, KeyError, struct.error):
            note = None
        if note is not None:
            sys.stderr.write("MEANING: %s: %s\n" % (name, note))
            return True
        return original_matches(name, recvd, expected)

    def expect_packet(sock, name, expected):
        if len(expected) == 0:
            recvd = sock.recv(1)
        else:
            recvd = read_packet(sock, len(expected))
        if packet_matches(name, recvd, expected):
            return True
        raise mosq_test.TestError

    mosq_test.packet_matches = packet_matches
    mosq_test.expect_packet = expect_packet
