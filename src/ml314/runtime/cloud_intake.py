"""The cloud worker's MQTT side: paho clients (MQTT v5, their own network thread) in the shared-subscription group
of the cloud workers, with persistent sessions and manual acknowledgement (docs/cloud.md).

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
* **The restart guard** (one worker of the fleet, ``--guard``): Mosquitto 2.0 keeps sessions and queued messages
  across its restart but **not shared subscriptions**; until the first worker subscribes again, a device's message
  finds no subscriber (PUBACK reason 0x10), and the device, its message delivered, forgets it. The guard is a
  second persistent session, ``ml314-cloud-guard``, with **plain** subscriptions to the same topics, which the
  broker does restore: after a restart it queues every message for the guard. The guard's messages are stored
  like the others from its (re)connection until a marker comes back that its worker publishes once both its
  shared subscription and the guard's are in place; from then on every message also reaches the shared group,
  and the guard acknowledges without storing, until the next reconnection.
"""

from __future__ import annotations

import queue
import secrets
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
from ml314.cloud.topics import CLOUD_FILTERS, ROOT, shared
from ml314.errors import InputError

__all__ = ["GUARD_CLIENT_ID", "MqttIntake", "Received"]

GUARD_CLIENT_ID = "ml314-cloud-guard"
#: where the guard's worker publishes the marker (the cloud account may write ``ml314/+/cmd/#``; no device has this
#: serial, and the cloud's filters do not match it)
_MARKER = f"{ROOT}/{GUARD_CLIENT_ID}/cmd/marker"
#: CONNACK reasons that no retry will change (MQTT v5 reason codes)
_REFUSED = {0x84: "protocol version", 0x85: "client id", 0x86: "bad user name or password", 0x87: "not authorized",
            0x8A: "banned"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Received:
    """One message as it came in: ``generation`` numbers the connection (of client ``link``) it came on."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_s: float
    link: int = 0  # 0 the shared subscription, 1 the guard
    prepared: object = None  # what ``prepare`` made of it on paho's thread (or the exception it raised)


class _Link:
    """One paho client and the number of its current connection."""

    def __init__(self, target: MqttTarget, client_id: str) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)
        client.username_pw_set(target.username, target.password)
        if target.tls:
            client.tls_set(ca_certs=str(target.ca) if target.ca else None)
        client.reconnect_delay_set(1, 10)
        self.client = client
        self.generation = 0
        self.connected = False
        self.subscribed = False  # the SUBACK of the current connection came


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
        guard: bool = False,
        prepare: Callable[[str, bytes, float], object] | None = None,
    ) -> None:
        self.target = target
        self._prepare = prepare
        self.messages: queue.Queue[Received] = queue.Queue()
        self._echo = echo
        self._lock = threading.Lock()
        self._first = threading.Event()
        self._refused: str | None = None
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self._links = [_Link(target, client_id)] + ([_Link(target, GUARD_CLIENT_ID)] if guard else [])
        for index, link in enumerate(self._links):
            link.client.on_connect = self._connected(index)
            link.client.on_disconnect = self._disconnected(index)
            link.client.on_subscribe = self._subscribed(index)
            link.client.on_message = self._message(index)
        self._marker = ""  # the marker the guard waits for ("" none yet)
        self.guard_storing = True  # the guard stores what it receives (until the marker comes back)

    @property
    def client(self) -> mqtt.Client:
        return self._links[0].client

    # ------------------------------------------------------------------------------------------- paho's threads
    def _connected(self, index: int) -> Callable[..., None]:
        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
            del userdata, flags, props
            if reason.is_failure:
                why = _REFUSED.get(reason.value)
                if why is not None and not self._first.is_set():
                    self._refused = why
                    self._first.set()
                return
            link = self._links[index]
            with self._lock:
                link.generation += 1
                link.connected, link.subscribed = True, False
                self.guard_storing = True  # until a marker of the new connection comes back
            # a restarted Mosquitto restored the session but not its shared subscriptions: subscribe every time
            filters = [shared(f) for f in CLOUD_FILTERS] if index == 0 else [*CLOUD_FILTERS, _MARKER]
            client.subscribe([(f, SubscribeOptions(qos=1)) for f in filters])
            if index == 0:
                if self._first.is_set():
                    self._echo(f"ml314 cloud: connected again to {self.target.where}")
                if len(self._links) == 1:
                    self._first.set()

        return on_connect

    def _disconnected(self, index: int) -> Callable[..., None]:
        def on_disconnect(client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
            del client, userdata, flags, props
            link = self._links[index]
            with self._lock:
                was, link.connected, link.subscribed = link.connected, False, False
                link.generation += 1
                self.guard_storing = True
            if was and index == 0:
                self._echo(
                    f"ml314 cloud: lost {self.target.where} ({reason}); reconnecting, the broker keeps the queue"
                )

        return on_disconnect

    def _subscribed(self, index: int) -> Callable[..., None]:
        def on_subscribe(client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any) -> None:
            del client, userdata, mid, props
            if any(c.is_failure for c in codes):
                self._echo(f"ml314 cloud: the broker refused a subscription ({', '.join(str(c) for c in codes)})")
                return
            with self._lock:
                self._links[index].subscribed = True
                ready = all(link.subscribed for link in self._links)
                if ready and len(self._links) == 2:
                    self._marker = secrets.token_hex(8)
                    marker = self._marker
            if ready and len(self._links) == 2:
                # both subscriptions in place: once this comes back to the guard, the shared group gets it all
                self._links[0].client.publish(_MARKER, marker, qos=1)
            if ready:
                self._first.set()

        return on_subscribe

    def _message(self, index: int) -> Callable[..., None]:
        link = self._links[index]

        def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
            del userdata
            if index == 1:
                if msg.topic == _MARKER:
                    with self._lock:
                        if msg.payload.decode(errors="replace") == self._marker:
                            self.guard_storing = False
                    client.ack(msg.mid, msg.qos)
                    return
                if not self.guard_storing:
                    client.ack(msg.mid, msg.qos)  # the shared group has it too
                    return
            payload, now = bytes(msg.payload), time.time()
            prepared: object = None
            if self._prepare is not None:  # e.g. parsing: done here while the worker's thread waits for the database
                try:
                    prepared = self._prepare(msg.topic, payload, now)
                except Exception as exc:  # handed to the worker, which says what it was
                    prepared = exc
            item = Received(msg.topic, payload, msg.mid, msg.qos, link.generation, now, index, prepared)
            self.messages.put(item)

        return on_message

    # -------------------------------------------------------------------------------------------- the worker's
    def connect(self, stopping: threading.Event) -> bool:
        """Connect and subscribe; returns once subscribed (True) or when ``stopping`` is set (False). InputError if
        the broker refuses the account; an unreachable broker is tried again and again."""
        for link in self._links:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self._session_expiry_s
            props.ReceiveMaximum = self._receive_maximum
            link.client.connect_async(
                self.target.host, self.target.port, self.target.keepalive_s, clean_start=False, properties=props
            )
            link.client.loop_start()
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
        """Acknowledge ``items`` (in the order received) that came on a connection still up; how many."""
        done = 0
        with self._lock:
            for item in items:
                link = self._links[item.link]
                current = item.qos > 0 and link.connected and item.generation == link.generation
                if current and link.client.ack(item.mid, item.qos) == mqtt.MQTT_ERR_SUCCESS:
                    done += 1
        return done

    def close(self) -> None:
        """Disconnect (the sessions stay for their expiry: the broker queues meanwhile)."""
        for link in self._links:
            link.client.disconnect()
            link.client.loop_stop()
