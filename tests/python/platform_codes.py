"""Reports the MQTT 5 reason codes a platform broker answers, as JSON.

usage: platform_codes.py HOST PORT USERNAME PASSWORD [sub:FILTER | pub:TOPIC]...

Connects with paho-mqtt (MQTT 5), then subscribes / publishes (QoS 1) in order and
prints {"connack": N, "ops": [[op, arg, code], ...]}. A refused CONNACK ends the run.
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ops = sys.argv[5:]
result = {"connack": None, "ops": []}
event = threading.Event()
codes = {}


def on_connect(client, userdata, flags, reason_code, properties):
    result["connack"] = reason_code.value
    event.set()


def on_subscribe(client, userdata, mid, reason_codes, properties):
    codes[mid] = reason_codes[0].value
    event.set()


def on_publish(client, userdata, mid, reason_code, properties):
    codes[mid] = reason_code.value
    event.set()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
client.username_pw_set(user, password)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_publish = on_publish
client.connect(host, port, clean_start=True, properties=Properties(PacketTypes.CONNECT))
client.loop_start()
if not event.wait(5):
    sys.exit("no CONNACK")
if result["connack"] == 0:
    for op in ops:
        kind, arg = op.split(":", 1)
        event.clear()
        if kind == "sub":
            _, mid = client.subscribe(arg, qos=1)
        else:
            mid = client.publish(arg, b"x", qos=1).mid
        if not event.wait(5) and mid not in codes:
            sys.exit(f"no answer to {op}")
        result["ops"].append([kind, arg, codes.get(mid)])
client.disconnect()
client.loop_stop()
print(json.dumps(result))
