"""MQTT 5 properties across two cluster instances, with paho-mqtt (v2 API).

usage: cluster_v5.py SUB_PORT PUB_PORT SUB_METRICS_URL
Subscribes on the instance at SUB_PORT, waits until that instance follows the subject
on NATS (its /metrics), publishes on the instance at PUB_PORT with every forwarded
property, and checks they all arrive. Exits 0 on success, 1 with a message otherwise.
"""
import sys
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt5_support import fail, wait_until

SUB_PORT, PUB_PORT, METRICS = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def connected(client_id, port):
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, u, f, rc, p: ready.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not ready.wait(5):
        fail(f"{client_id}: no CONNACK")
    return client


def subscriptions():
    text = urllib.request.urlopen(METRICS).read().decode()
    for line in text.splitlines():
        if line.startswith("magnetite_cluster_subscriptions "):
            return int(float(line.split()[1]))
    return 0


messages, subacks = [], []
sub = connected("v5-sub", SUB_PORT)
sub.on_message = lambda c, u, m: messages.append(m)
sub.on_subscribe = lambda c, u, mid, codes, p: subacks.append(codes)
sub.subscribe("props/#", options=SubscribeOptions(qos=1))
wait_until(lambda: subacks, "SUBACK")
wait_until(lambda: subscriptions() >= 1, "the NATS subscription", limit=10)

pub = connected("v5-pub", PUB_PORT)
props = Properties(PacketTypes.PUBLISH)
props.PayloadFormatIndicator = 1
props.ContentType = "application/json"
props.ResponseTopic = "props/replies"
props.CorrelationData = b"\x00corr\xff"
props.UserProperty = [("site", "north"), ("site", "south")]
props.MessageExpiryInterval = 300
pub.publish("props/a", b'{"t":21.5}', qos=1, properties=props).wait_for_publish(5)
wait_until(lambda: messages, "the message on the other instance", limit=10)

got = messages[0]
p = got.properties
checks = {
    "topic": got.topic == "props/a",
    "payload": got.payload == b'{"t":21.5}',
    "qos": got.qos == 1,
    "payload format": getattr(p, "PayloadFormatIndicator", None) == 1,
    "content type": getattr(p, "ContentType", None) == "application/json",
    "response topic": getattr(p, "ResponseTopic", None) == "props/replies",
    "correlation data": getattr(p, "CorrelationData", None) == b"\x00corr\xff",
    "user properties": getattr(p, "UserProperty", None) == [("site", "north"), ("site", "south")],
    "message expiry": 290 <= getattr(p, "MessageExpiryInterval", 0) <= 300,
}
failed = [name for name, ok in checks.items() if not ok]
if failed:
    fail(f"lost across instances: {failed}; properties: {p}")
time.sleep(0.5)
if len(messages) != 1:
    fail(f"{len(messages)} copies arrived")
sub.disconnect()
pub.disconnect()
print("ok")
