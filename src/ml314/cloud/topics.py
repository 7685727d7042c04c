"""The MQTT topics of ml314: one place for every name the device, the broker's ACL, Home Assistant and the cloud
service use (docs/mqtt.md has the table with the payloads).

Everything a device publishes is under ``ml314/<serial>/`` or, for Home Assistant discovery, under
``<discovery prefix>/<component>/<serial>/``: the serial is the MQTT username, so one ACL pattern per kind
(``%u``) confines every device to its own topics. Commands come in under ``ml314/<serial>/cmd/``, which only the
cloud and Home Assistant accounts may write; the device answers on ``ml314/<serial>/result``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ml314.errors import InputError

__all__ = [
    "CLOUD_FILTERS",
    "DEVICE_WRITES",
    "ROOT",
    "SHARED_GROUP",
    "DeviceTopics",
    "check_serial",
    "ha_status_topic",
    "shared",
]

ROOT = "ml314"
#: the shared-subscription group of the cloud workers: the broker hands each message to one of them
SHARED_GROUP = "ml314"
#: what a cloud worker subscribes to (each through :func:`shared`)
CLOUD_FILTERS = (f"{ROOT}/+/telemetry", f"{ROOT}/+/events", f"{ROOT}/+/status")
#: what a device writes under ``ml314/<serial>/`` (the ACL grants these and nothing else there)
DEVICE_WRITES = ("status", "telemetry", "events", "state", "module/+/state", "protocols", "result")
_SERIAL = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_serial(serial: str) -> str:
    """``serial`` if it can be a topic level, an MQTT username and a Home Assistant node id; else InputError."""
    if not _SERIAL.fullmatch(serial):
        raise InputError(f"device serial {serial!r}: letters, digits, '-' and '_' only (it names MQTT topics)")
    return serial


def ha_status_topic(prefix: str) -> str:
    """Home Assistant's birth and will topic (``online`` when it starts): discovery is published again then."""
    return f"{prefix}/status"


def shared(topic_filter: str) -> str:
    """``topic_filter`` as an MQTT v5 shared subscription of the cloud workers' group."""
    return f"$share/{SHARED_GROUP}/{topic_filter}"


@dataclass(frozen=True, slots=True)
class DeviceTopics:
    """Every topic of one device."""

    serial: str

    def __post_init__(self) -> None:
        check_serial(self.serial)

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.serial}"

    @property
    def status(self) -> str:
        """``online`` (retained) while connected, ``offline`` (retained, the will) otherwise."""
        return f"{self.base}/status"

    @property
    def telemetry(self) -> str:
        """One sample of the bank and its modules per message, with ``seq`` and the original ``ts`` (buffered)."""
        return f"{self.base}/telemetry"

    @property
    def events(self) -> str:
        """The BMS event log, one event per message with its ``id`` (buffered)."""
        return f"{self.base}/events"

    @property
    def state(self) -> str:
        """The bank now (retained, live only: never the backlog); Home Assistant's entities read it."""
        return f"{self.base}/state"

    def module_state(self, module_id: int) -> str:
        """One module now (retained, live only)."""
        return f"{self.base}/module/{module_id}/state"

    @property
    def protocols(self) -> str:
        """The protocol selection the next start runs (retained): ``{"can": NAME, "rs485": NAME}``."""
        return f"{self.base}/protocols"

    @property
    def commands(self) -> str:
        """The filter of every command to this device."""
        return f"{self.base}/cmd/#"

    def command(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    @property
    def result(self) -> str:
        """The answer to every command: ``{"command", "ok", "code", "message", "ts"}``."""
        return f"{self.base}/result"

    def discovery(self, prefix: str, component: str, object_id: str) -> str:
        """A Home Assistant discovery topic of this device (node id = the serial)."""
        return f"{prefix}/{component}/{self.serial}/{object_id}/config"
