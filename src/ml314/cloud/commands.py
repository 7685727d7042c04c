"""Commands from the app's Wi-Fi mode to a device over MQTT, and the device's answers.

The app's "configure network" and "AP" buttons become one message on ``ml314/<serial>/cmd/network`` (QoS 1, not
retained): ``{"mode": "ap"}`` or ``{"mode": "sta", "ssid": SSID, "password": PSK}``. The device answers on
``ml314/<serial>/result`` with ``{"command", "ok", "code", "message", "ts"}``, as for every command (docs/mqtt.md).
:class:`MqttCommands` is one MQTT v5 connection with the cloud account (paho, its own network thread): it
publishes, subscribes to every device's result topic (an ordinary subscription: each serving worker sees every
answer) and hands a waiting request the answer to its command. The Wi-Fi password passes through and is never
stored or logged.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ml314.cloud.mqtt_url import MqttTarget
from ml314.cloud.refusals import RefusedError
from ml314.cloud.topics import ROOT, DeviceTopics
from ml314.domain.network import WifiCredentials
from ml314.errors import InputError, TransportError

__all__ = ["CommandPort", "CommandResult", "MqttCommands", "network_command"]

NetworkMode = Literal["ap", "sta"]


def network_command(mode: str, ssid: str | None = None, password: str | None = None) -> dict[str, str]:
    """The payload of ``cmd/network``: AP mode, or STA on the 2.4 GHz network ``ssid`` (1-32 bytes of UTF-8, no
    control characters) with its WPA2 passphrase (8-63 printable ASCII characters): the rules the device applies
    to the credentials it is handed, checked here so a mistyped one is refused before it is sent."""
    if mode == "ap":
        return {"mode": "ap"}
    if mode != "sta":
        raise RefusedError(f"mode {mode!r}: 'ap' or 'sta'", "invalid_field", "mode")
    try:
        WifiCredentials(ssid or "", password or "")  # the device's own rule (domain/network.py), checked before sending
    except InputError as e:
        field = str(e).split(":", 1)[0]
        raise RefusedError(str(e), "invalid_field", field if field in ("ssid", "password") else None) from e
    return {"mode": "sta", "ssid": ssid or "", "password": password or ""}


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A device's answer on its result topic."""

    command: str
    ok: bool
    code: str
    message: str
    ts: float

    def json(self) -> dict[str, Any]:
        return {"command": self.command, "ok": self.ok, "code": self.code, "message": self.message, "ts": self.ts}


class CommandPort(Protocol):
    """Where the app sends device commands."""

    def send(self, serial: str, command: str, payload: dict[str, Any], wait_s: float) -> CommandResult | None:
        """Publish ``payload`` on ``ml314/<serial>/cmd/<command>``; the device's answer if it comes within
        ``wait_s`` (None: sent, no answer yet). :class:`~ml314.errors.TransportError` when it cannot be sent."""
        ...

    def last_result(self, serial: str) -> CommandResult | None:
        """The newest answer of ``serial`` this process saw."""
        ...

    def close(self) -> None: ...


class MqttCommands:
    """One MQTT connection that sends commands and collects the answers (the newest per device, for up to
    ``max_devices`` devices)."""

    def __init__(self, target: MqttTarget, max_devices: int = 10_000) -> None:
        self.target = target
        self.max_devices = max_devices
        self._results: OrderedDict[str, CommandResult] = OrderedDict()
        self._cond = threading.Condition()
        self._connected = threading.Event()
        client_id = f"ml314-app-{secrets.token_hex(4)}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if target.username is not None:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set(ca_certs=str(target.ca) if target.ca else None, cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self._connected.clear()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 30)
        self.client.connect_async(target.host, target.port, keepalive=target.keepalive_s)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        del userdata, flags, props
        if not reason.is_failure:
            client.subscribe(f"{ROOT}/+/result", qos=1)
            self._connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        del client, userdata
        parts = message.topic.split("/")
        if len(parts) != 3 or message.retain:
            return
        try:
            doc = json.loads(message.payload)
            result = CommandResult(
                str(doc["command"]),
                bool(doc["ok"]),
                str(doc.get("code", "")),
                str(doc.get("message", "")),
                float(doc.get("ts", time.time())),
            )
        except (ValueError, KeyError, TypeError):
            return
        with self._cond:
            self._results.pop(parts[1], None)
            self._results[parts[1]] = result
            while len(self._results) > self.max_devices:
                self._results.popitem(last=False)
            self._cond.notify_all()

    def connected(self, wait_s: float) -> bool:
        """Whether the connection is up (waiting up to ``wait_s`` for it)."""
        return self._connected.wait(wait_s)

    def last_result(self, serial: str) -> CommandResult | None:
        with self._cond:
            return self._results.get(serial)

    def send(self, serial: str, command: str, payload: dict[str, Any], wait_s: float) -> CommandResult | None:
        if not self._connected.wait(wait_s):
            raise TransportError(f"the cloud is not connected to the MQTT broker at {self.target.where}")
        with self._cond:
            before = self._results.get(serial)
        info = self.client.publish(DeviceTopics(serial).command(command), json.dumps(payload), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise TransportError(f"the command could not be sent ({mqtt.error_string(info.rc)})")

        def answered() -> bool:
            now = self._results.get(serial)
            return now is not None and now is not before and now.command == command

        with self._cond:
            if self._cond.wait_for(answered, timeout=wait_s):
                return self._results[serial]
        return None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
