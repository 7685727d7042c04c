"""The cloud worker's MQTT side: one paho client (MQTT v5, its own network thread) in the shared-subscription group
of the cloud workers, with a persistent session and manual acknowledgement.

* **Shared subscription** (``$share/ml314/ml314/+/telemetry`` ...): the broker hands each message to one worker of
  the group, so any number of workers split the load.
* **Persistent session** (clean start off, a session expiry): while the worker is away (a restart, a crash) the
  broker keeps its subscriptions and queues its messages; the worker's client id (``ml314-cloud-NAME``) must
  therefore stay the same across restarts and differ between workers.
* **Manual acknowledgement**: a QoS 1 message is acknowledged (PUBACK) only when the worker says so, after the
  batch holding it committed. Until then the broker counts it in flight and sends it again after a reconnection,
  so a worker killed at any moment loses nothing. An acknowledgement is only sent on the connection that received
  the message: after a reconnection the broker sends the message again (and the store drops the copy), while a
  packet id of the old connection may name another message on the new one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ml314.cloud.mqtt_url import MqttTarget
from ml314.cloud.topics import CLOUD_FILTERS, shared
from ml314.errors import InputError

__all__ = ["MqttIntake", "Received"]

#: CONNACK reasons that no retry will change (MQTT v5 reason codes)
_REFUSED = {0x84: "protocol version", 0x85: "client id", 0x86: "bad user name or password", 0x87: "not authorized",
            0x8A: "banned"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Received:
    """One message as it came in: ``generation`` numbers the connection it came on."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_s: float


class MqttIntake:
    """The messages of the cloud's filters arrive in :attr:`messages`; :meth:`ack` acknowledges them."""

    def __init__(
        self,
        target: MqttTarget,
        client_id: str,
        *,
        session_expiry_s: int,
        receive_maximum: int,
        echo: Callable[[str], None],
    ) -> None:
        self.target = target
        self.messages: queue.Queue[Received] = queue.Queue()
        self._echo = echo
        self._lock = threading.Lock()
        self._generation = 0
        self._connected = False
        self._first = threading.Event()
        self._refused: str | None = None
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)
        client.username_pw_set(target.username, target.password)
        if target.tls:
            client.tls_set(ca_certs=str(target.ca) if target.ca else None)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    # ------------------------------------------------------------------------------------------- paho's thread
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        del userdata, flags, props
        if reason.is_failure:
            why = _REFUSED.get(reason.value)
            if why is not None and not self._first.is_set():
                self._refused = why
                self._first.set()
            return
        with self._lock:
            self._generation += 1
            self._connected = True
        # the session keeps the subscriptions, but a broker that lost its state (or a new session) needs them
        client.subscribe([(shared(f), SubscribeOptions(qos=1)) for f in CLOUD_FILTERS])
        if self._first.is_set():
            self._echo(f"ml314 cloud: connected again to {self.target.where}")
        self._first.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        del client, userdata, flags, props
        with self._lock:
            was, self._connected = self._connected, False
            self._generation += 1
        if was:
            self._echo(f"ml314 cloud: lost {self.target.where} ({reason}); reconnecting, the broker keeps the queue")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        del client, userdata
        self.messages.put(Received(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._generation, time.time()))

    # -------------------------------------------------------------------------------------------- the worker's
    def connect(self, stopping: threading.Event) -> bool:
        """Connect and subscribe; returns once connected (True) or when ``stopping`` is set (False). InputError if
        the broker refuses the account; an unreachable broker is tried again and again."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry_s
        props.ReceiveMaximum = self._receive_maximum
        self.client.connect_async(
            self.target.host, self.target.port, self.target.keepalive_s, clean_start=False, properties=props
        )
        self.client.loop_start()
        said = False
        while not self._first.wait(1.0):
            if stopping.is_set():
                return False
            if not said:
                self._echo(f"ml314 cloud: waiting for the broker {self.target.where}")
                said = True
        if self._refused is not None:
            self.close()
            raise InputError(f"--mqtt {self.target.where}: the broker refused the account ({self._refused})")
        return True

    def ack(self, items: Sequence[Received]) -> int:
        """Acknowledge ``items`` (in the order received) that came on the current connection; how many."""
        done = 0
        with self._lock:
            if not self._connected:
                return 0
            for item in items:
                if item.qos > 0 and item.generation == self._generation:
                    if self.client.ack(item.mid, item.qos) != mqtt.MQTT_ERR_SUCCESS:
                        break
                    done += 1
        return done

    def close(self) -> None:
        """Disconnect (the session stays for its expiry: the broker queues meanwhile)."""
        self.client.disconnect()
        self.client.loop_stop()
