#!/usr/bin/env python3
"""The event-consumer benchmark's client (standard library only), used by
bench/consumers.sh.

  consumers.py stream  --base URL --token T --consumer C --expect N [--idle S]
      Holds the consumer's SSE stream and acknowledges every delivery (in batches of
      up to 1000 replies, from a second thread, as a real consumer must: an unacknowledged
      consumer stops at --consumer-max-pending). Prints "ready" once the stream is open,
      then, when N distinct positions arrived (or nothing came for S seconds), a JSON
      line: delivered, seconds from the first to the last delivery, events/s.

  consumers.py latency --base URL --token T --consumer C --domain D --client K [--changes M]
      M times, one after the other: renames client K (PATCH) and waits until the stream
      delivers that change; prints the latency from before the request to the delivery
      (p50, p90, p99, max in ms) as a JSON line.
"""

import argparse
import http.client
import json
import queue
import statistics
import sys
import threading
import time
import urllib.parse


def connect(base, timeout=60.0):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def call(base, token, method, path, body=None):
    conn = connect(base)
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status >= 300:
        raise SystemExit(f"{method} {path}: {resp.status} {data[:200]!r}")
    return json.loads(data) if data else None


def open_stream(base, token, consumer, timeout=60.0):
    conn = connect(base, timeout)
    conn.request("GET", f"/consumers/{consumer}/stream", headers={"Authorization": "Bearer " + token})
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"stream: {resp.status} {resp.read()[:200]!r}")
    return resp


def deliveries(resp):
    """Yields each `data:` line of an SSE body (bytes, without the prefix)."""
    while True:
        line = resp.readline()
        if not line:
            return
        if line.startswith(b"data:"):
            yield line[5:].strip()


def acknowledger(base, token, replies):
    batch = []
    while True:
        item = replies.get()
        if item is not None:
            batch.append(item)
        if batch and (item is None or len(batch) >= 1000 or replies.empty()):
            call(base, token, "POST", "/consumers/acknowledge", {"replies": batch})
            batch = []
        if item is None:
            return


def stream(args):
    resp = open_stream(args.base, args.token, args.consumer, args.idle)
    replies = queue.Queue()
    acks = threading.Thread(target=acknowledger, args=(args.base, args.token, replies))
    acks.start()
    print("ready", flush=True)
    seen, first, last = set(), None, None
    try:
        for data in deliveries(resp):
            d = json.loads(data)
            now = time.monotonic()
            first = first or now
            last = now
            seen.add(d["position"])
            replies.put(d["reply"])
            if len(seen) >= args.expect:
                break
    except TimeoutError:
        pass
    replies.put(None)
    acks.join()
    span = (last - first) if first else 0.0
    rate = (len(seen) - 1) / span if span > 0 else 0.0
    print(json.dumps({"delivered": len(seen), "expected": args.expect,
                      "seconds": round(span, 3), "events_per_s": round(rate)}), flush=True)


def latency(args):
    resp = open_stream(args.base, args.token, args.consumer)
    lines = deliveries(resp)
    path = f"/{args.domain}/clients/{args.client}"
    took = []
    for i in range(args.changes):
        marker = f"lat-{i}-{time.time_ns()}".encode()
        t0 = time.perf_counter()
        call(args.base, args.token, "PATCH", path, {"name": marker.decode()})
        for data in lines:
            if marker in data:
                took.append((time.perf_counter() - t0) * 1000)
                reply = json.loads(data)["reply"]
                call(args.base, args.token, "POST", "/consumers/acknowledge", {"replies": [reply]})
                break
        else:
            raise SystemExit("the stream ended")
    took.sort()
    q = statistics.quantiles(took, n=100)
    print(json.dumps({"changes": len(took), "p50_ms": round(q[49], 2), "p90_ms": round(q[89], 2),
                      "p99_ms": round(q[98], 2), "max_ms": round(took[-1], 2)}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["stream", "latency"])
    p.add_argument("--base", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--consumer", required=True)
    p.add_argument("--expect", type=int, default=0)
    p.add_argument("--idle", type=float, default=30.0)
    p.add_argument("--domain")
    p.add_argument("--client")
    p.add_argument("--changes", type=int, default=300)
    args = p.parse_args()
    (stream if args.mode == "stream" else latency)(args)


if __name__ == "__main__":
    sys.exit(main())
