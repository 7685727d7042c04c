"""The private broker the MQTT tests use: it serves on loopback, and a stop and start keeps its port, its
persistent sessions and the messages queued for them (what the buffering tests rely on)."""

from __future__ import annotations

import queue

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.mosquitto import MosquittoBroker


def _client(broker: MosquittoBroker, client_id: str, inbox: queue.Queue[bytes] | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    connected: queue.Queue[int] = queue.Queue()
    client.on_connect = lambda c, u, f, reason, p: connected.put(reason.value)
    client.on_subscribe = lambda c, u, mid, reasons, p: client.user_data_get().put(mid)
    client.user_data_set(queue.Queue())
    if inbox is not None:
        client.on_message = lambda c, u, m: inbox.put(m.payload)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
    client.loop_start()
    assert connected.get(timeout=30) == 0
    return client


def test_a_queued_message_survives_a_broker_restart(mosquitto) -> None:
    broker = mosquitto()
    inbox: queue.Queue[bytes] = queue.Queue()
    sub = _client(broker, "sub", inbox)
    mid = sub.subscribe("t/#", qos=1)[1]
    assert sub.user_data_get().get(timeout=30) == mid  # SUBACK: the subscription exists before the publish
    pub = _client(broker, "pub")
    pub.publish("t/1", b"before", qos=1).wait_for_publish(30)
    assert inbox.get(timeout=30) == b"before"
    sub.loop_stop()
    sub.disconnect()  # the session stays (expiry 1 h): the broker queues for it
    pub.publish("t/1", b"queued", qos=1).wait_for_publish(30)
    pub.loop_stop()
    pub.disconnect()
    port = broker.port
    broker.stop()
    broker.start()
    assert broker.port == port
    sub = _client(broker, "sub", inbox)
    try:
        assert inbox.get(timeout=30) == b"queued"
    finally:
        sub.loop_stop()
        sub.disconnect()
