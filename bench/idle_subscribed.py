#!/usr/bin/env python3
"""Idle connections as a fleet holds them: each with a device-like client id, keep-alive
60 s and one QoS 1 subscription; reports the broker's RSS growth per connection.

    python3 bench/idle_subscribed.py --port 1883 --pid <broker pid> --clients 10000
    # authenticated: one account per connection (id,username,password lines, as
    # bench/platform_setup.sh writes them), each subscribed under its channel
    python3 bench/idle_subscribed.py ... --credentials creds.csv --topic 'm/<domain>/c/<channel>/{id}'

Raw MQTT 3.1.1 over blocking sockets (no client library: 10,000 sockets in one
process, one CONNECT/SUBSCRIBE round trip each). Prints one JSON line.
"""
import argparse
import json
import socket
import struct
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def remaining_length(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(text):
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id, keep_alive, username=None, password=None):
    flags = 0x02 | (0xC0 if username is not None else 0)
    body = utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", keep_alive) + utf8(client_id)
    if username is not None:
        body += utf8(username) + utf8(password)
    return b"\x10" + remaining_length(len(body)) + body


def subscribe_packet(topic, pkid=1, qos=1):
    body = struct.pack("!H", pkid) + utf8(topic) + bytes([qos])
    return b"\x82" + remaining_length(len(body)) + body


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def load_credentials(path):
    """(client id, username, password) per line of `id,username,password`."""
    with open(path) as lines:
        return [tuple(line.strip().split(",", 2)) for line in lines if line.strip()]


def open_device(port, i, keep_alive, topic, account=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if account is None:
        client_id = f"device-{i:08d}-3f2a9c"
        sock.sendall(connect_packet(client_id, keep_alive))
    else:
        client_id, username, password = account
        sock.sendall(connect_packet(client_id, keep_alive, username, password))
    connack = read_exact(sock, 4)
    if connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"CONNACK {connack!r}")
    sock.sendall(subscribe_packet(topic.format(id=client_id, i=i)))
    suback = read_exact(sock, 5)
    if suback[0] != 0x90 or suback[4] > 2:
        raise ConnectionError(f"SUBACK {suback!r}")
    return sock


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--keep-alive", type=int, default=60)
    parser.add_argument("--settle", type=float, default=8.0,
                        help="seconds idle before the RSS reading (magnetite parks after 2-4 s)")
    parser.add_argument("--label", default="")
    parser.add_argument("--hold", type=float, default=0.0,
                        help="seconds to keep the connections open after the reading")
    parser.add_argument("--credentials", help="id,username,password per line; one per connection")
    parser.add_argument("--topic", default="devices/{id}/commands",
                        help="subscription of each connection; {id} = client id, {i} = index")
    args = parser.parse_args()
    accounts = load_credentials(args.credentials) if args.credentials else None
    if accounts is not None and len(accounts) < args.clients:
        sys.exit(f"{args.credentials}: {len(accounts)} accounts for {args.clients} clients")
    before = rss_kib(args.pid)
    started = time.monotonic()
    socks = [
        open_device(args.port, i, args.keep_alive, args.topic, accounts[i] if accounts else None)
        for i in range(args.clients)
    ]
    connect_s = time.monotonic() - started
    time.sleep(args.settle)
    after = rss_kib(args.pid)
    print(json.dumps({
        "label": args.label,
        "clients": len(socks),
        "connect_s": round(connect_s, 2),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": round((after - before) / len(socks), 3),
    }))
    sys.stdout.flush()
    time.sleep(args.hold)
    for sock in socks:
        sock.close()


if __name__ == "__main__":
    main()
