"""MQTT v5 test clients (paho, its own network thread): connect, subscribe, and wait for messages by condition."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

#: a guard against a hang when something is broken, never a limit the behaviour under test must meet
GUARD_S = 120.0


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


class TestClient:
    """One connection; every message it receives is kept in order (``messages``)."""

    __test__ = False

    def __init__(
        self,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        *,
        session_expiry_s: int = 0,
        tls_ca: Path | None = None,
    ) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if tls_ca is not None:
            self.client.tls_set(ca_certs=str(tls_ca))
        if username is not None:
            self.client.username_pw_set(username, password)
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._connack: queue.Queue[int] = queue.Queue()
        self._subacks: queue.Queue[list[int]] = queue.Queue()
        self.client.on_connect = lambda c, u, f, reason, p: self._connack.put(reason.value)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self._subacks.put([r.value for r in codes])
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry_s
        self.client.connect("127.0.0.1", port, clean_start=session_expiry_s == 0, properties=props)
        self.client.loop_start()
        self.connack = self._connack.get(timeout=GUARD_S)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def subscribe(self, topic: str, qos: int = 1) -> list[int]:
        """Subscribe; the SUBACK's reason codes (0..2 granted QoS, >= 0x80 refused)."""
        self.client.subscribe(topic, qos=qos)
        return self._subacks.get(timeout=GUARD_S)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(GUARD_S)

    def wait_for(self, condition: Callable[[list[Message]], bool], what: str) -> list[Message]:
        """Block until ``condition(messages)`` holds; AssertionError naming ``what`` if the guard runs out."""
        deadline = time.monotonic() + GUARD_S
        with self._cond:
            while not condition(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"never received {what}; got {[m.topic for m in self.messages][-20:]}")
                self._cond.wait(left)
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
