"""Prints Magnetite's Kaa endpoint events as JSON, one line each, decoded with fastavro.

usage: python3 scripts/kaa_sub.py [HOST] [PORT] [COUNT]
Subscribes to `kaa.v1.events.>` on the NATS server (default 127.0.0.1 4222) with the
plain NATS text protocol (no client library needed; `pip install fastavro`), and exits
after COUNT events when given. The schemas are those of tests/python/kaa_decode.py.
"""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from kaa_decode import decode  # noqa: E402


def lines(sock):
    """Yields protocol lines and lets the caller read exact payloads."""
    buf = b""
    while True:
        while b"\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        line, buf = buf.split(b"\r\n", 1)
        size = yield line
        if size is not None:
            while len(buf) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            body, buf = buf[:size], buf[size + 2:]
            yield body


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 4222
    count = int(sys.argv[3]) if len(sys.argv) > 3 else None
    sock = socket.create_connection((host, port))
    sock.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB kaa.v1.events.> 1\r\nPING\r\n')
    reader = lines(sock)
    seen = 0
    for line in reader:
        words = line.decode().split()
        if not words:
            continue
        if words[0] == "PING":
            sock.sendall(b"PONG\r\n")
        elif words[0] in ("MSG", "HMSG"):
            total = int(words[-1])
            headers = int(words[-2]) if words[0] == "HMSG" else 0
            body = reader.send(total)[headers:]
            print(json.dumps({"subject": words[1], "record": decode(words[1], body)}), flush=True)
            seen += 1
            if count is not None and seen >= count:
                return 0
        elif words[0] == "PONG":
            print("subscribed", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
