"""MQTT 5 scenarios driven with the Eclipse paho-mqtt Python client (v2 API).

usage: v5_client.py SCENARIO MQTT_PORT WS_PORT
Exits 0 when the scenario behaves as the spec says, 1 with a message otherwise.
"""
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt5_support import fail, wait_until

SCENARIO, PORT, WS_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


class Peer:
    """A connected client that records what arrives."""

    def __init__(self, client_id, transport="tcp", port=None, clean=True, props=None, keepalive=60, will=None):
        self.messages, self.subacks, self.disconnects = [], [], []
        self.connack = None
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5, transport=transport)
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        if will:
            topic, payload, will_props = will
            self.client.will_set(topic, payload, qos=0, properties=will_props)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.messages.append(m)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.subacks.append(codes)
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.append(rc)
        self.client.connect("127.0.0.1", port or PORT, keepalive=keepalive, clean_start=clean, properties=props)
        self.client.loop_start()
        if not self.ready.wait(5):
            fail(f"{client_id}: no CONNACK")

    def _on_connect(self, client, userdata, flags, rc, props):
        self.connack = (flags, rc, props)
        self.ready.set()

    def subscribe(self, topic, options=None, props=None):
        n = len(self.subacks)
        self.client.subscribe(topic, options=options or SubscribeOptions(qos=1), properties=props)
        wait_until(lambda: len(self.subacks) > n, f"SUBACK for {topic}")
        return self.subacks[-1]

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def packet_props(packet_type, **kw):
    p = Properties(packet_type)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def publish_props(**kw):
    return packet_props(PacketTypes.PUBLISH, **kw)


def topic_alias():
    sub = Peer("alias-sub")
    sub.subscribe("alias/topic")
    pub = Peer("alias-pub")
    pub.client.publish("alias/topic", b"first", properties=publish_props(TopicAlias=3)).wait_for_publish()
    pub.client.publish("", b"second", properties=publish_props(TopicAlias=3)).wait_for_publish()
    wait_until(lambda: len(sub.messages) == 2, "two messages through one alias")
    got = [(m.topic, m.payload) for m in sub.messages]
    if got != [("alias/topic", b"first"), ("alias/topic", b"second")]:
        fail(got)


def request_response():
    responder = Peer("responder")
    responder.subscribe("svc/req")
    requester = Peer("requester")
    requester.subscribe("svc/resp/requester")
    props = publish_props(ResponseTopic="svc/resp/requester", CorrelationData=b"id-42", UserProperty=[("k", "v")])
    requester.client.publish("svc/req", b"ping", qos=1, properties=props)
    wait_until(lambda: responder.messages, "request")
    req = responder.messages[0]
    if req.properties.ResponseTopic != "svc/resp/requester" or req.properties.CorrelationData != b"id-42":
        fail(f"request properties lost: {req.properties}")
    if ("k", "v") not in req.properties.UserProperty:
        fail(f"user property lost: {req.properties}")
    responder.client.publish(req.properties.ResponseTopic, b"pong", qos=1,
                             properties=publish_props(CorrelationData=req.properties.CorrelationData))
    wait_until(lambda: requester.messages, "response")
    if requester.messages[0].properties.CorrelationData != b"id-42":
        fail("correlation data not echoed")


def subscription_identifier():
    c = Peer("subid")
    props = packet_props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7)
    c.subscribe("ids/#", props=props)
    c.client.publish("ids/a", b"x", qos=1)
    wait_until(lambda: c.messages, "delivery")
    if c.messages[0].properties.SubscriptionIdentifier != [7]:
        fail(c.messages[0].properties)


def offline_subscriber(client_id, topic, session_expiry):
    """Subscribes `client_id` to `topic` in a session that outlives the connection by
    `session_expiry` seconds, then leaves; returns the CONNECT properties to come back."""
    props = packet_props(PacketTypes.CONNECT, SessionExpiryInterval=session_expiry)
    c = Peer(client_id, clean=True, props=props)
    c.subscribe(topic)
    c.stop()
    return props


def message_expiry():
    props = offline_subscriber("expiring", "exp", 60)
    p = Peer("expiry-pub")
    p.client.publish("exp", b"short", qos=1, properties=publish_props(MessageExpiryInterval=1)).wait_for_publish()
    p.client.publish("exp", b"long", qos=1, properties=publish_props(MessageExpiryInterval=60)).wait_for_publish()
    time.sleep(1.5)
    back = Peer("expiring", clean=False, props=props)
    wait_until(lambda: back.messages, "queued message")
    time.sleep(0.3)
    if [m.payload for m in back.messages] != [b"long"]:
        fail([m.payload for m in back.messages])
    if not 0 < back.messages[0].properties.MessageExpiryInterval < 60:
        fail(back.messages[0].properties)


def session_expiry():
    props = offline_subscriber("sess", "s", 2)
    again = Peer("sess", clean=False, props=props)
    if not again.connack[0].session_present:
        fail("session should be present within its expiry")
    again.stop()
    time.sleep(3)
    late = Peer("sess", clean=False, props=props)
    if late.connack[0].session_present:
        fail("session should have expired")


def will_delay():
    watcher = Peer("will-watch")
    watcher.subscribe("wills/#")
    props = packet_props(PacketTypes.CONNECT, SessionExpiryInterval=10)
    will_props = packet_props(PacketTypes.WILLMESSAGE, WillDelayInterval=1)
    dying = Peer("dying", props=props, will=("wills/dying", b"bye", will_props))
    # No reconnect: paho's loop would reconnect as "dying", and a new connection for the
    # client id cancels a delayed will [MQTT-3.1.2-8] (the broker does so since issue 12).
    dying.client.loop_stop()
    start = time.time()
    dying.client._sock.close()  # abrupt: no DISCONNECT
    wait_until(lambda: watcher.messages, "delayed will", limit=6)
    if time.time() - start < 0.9:
        fail("will published before its delay")


def assigned_client_id_and_keepalive():
    c = Peer("", keepalive=300)
    props = c.connack[2]
    if not getattr(props, "AssignedClientIdentifier", ""):
        fail(f"no assigned client id: {props}")
    if getattr(props, "ServerKeepAlive", None) != 60:
        fail(f"server keep alive should be 60: {props}")


def refused_filters():
    c = Peer("refuse")
    codes = c.subscribe("test/nosubscribe")
    if codes[0].value < 0x80:
        fail(f"ACL-denied filter granted: {codes}")
    codes = c.subscribe("/".join(["level"] * 40))
    if codes[0].value != 0x8F:
        fail(f"a filter deeper than the level limit should get 0x8F: {codes}")
    # `$share/<group>` without a filter is a protocol error, not a SUBACK code [MQTT-4.8.2-1].
    c.client.subscribe("$share/g", options=SubscribeOptions(qos=1))
    wait_until(lambda: c.disconnects, "DISCONNECT for $share/g")
    if c.disconnects[0].value != 0x82:
        fail(f"$share/g should end the connection with 0x82: {c.disconnects}")


def websocket():
    sub = Peer("ws-sub", transport="websockets", port=WS_PORT)
    sub.subscribe("ws/t")
    pub = Peer("tcp-pub")
    pub.client.publish("ws/t", b"over websocket", qos=1)
    wait_until(lambda: sub.messages, "message over WebSocket")
    if sub.messages[0].payload != b"over websocket":
        fail(sub.messages[0].payload)


SCENARIOS = {f.__name__: f for f in [topic_alias, request_response, subscription_identifier, message_expiry,
                                      session_expiry, will_delay, assigned_client_id_and_keepalive,
                                      refused_filters, websocket]}

if __name__ == "__main__":
    SCENARIOS[SCENARIO]()
    print("PASS", SCENARIO)
