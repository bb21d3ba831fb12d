#!/usr/bin/env python3
"""Idle connections as a fleet holds them: each with a device-like client id, keep-alive
60 s and one QoS 1 subscription; reports the broker's RSS growth per connection.

    python3 bench/idle_subscribed.py --port 1883 --pid <broker pid> --clients 10000

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


def connect_packet(client_id, keep_alive):
    body = utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keep_alive) + utf8(client_id)
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


def open_device(port, i, keep_alive):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    client_id = f"device-{i:08d}-3f2a9c"
    sock.sendall(connect_packet(client_id, keep_alive))
    connack = read_exact(sock, 4)
    if connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"CONNACK {connack!r}")
    sock.sendall(subscribe_packet(f"devices/{client_id}/commands"))
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
    args = parser.parse_args()
    before = rss_kib(args.pid)
    started = time.monotonic()
    socks = [open_device(args.port, i, args.keep_alive) for i in range(args.clients)]
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
    for sock in socks:
        sock.close()


if __name__ == "__main__":
    main()
