"""How the app reaches a device in local mode ("find devices near you", manual 11): one small interface, one
implementation per transport, listed in :data:`TRANSPORTS`.

The product uses Bluetooth LE. Here the one transport is the local network: devices announce themselves by mDNS /
DNS-SD (``adapters/mdns_transport.py``) and the app talks to the device's local API. A BLE transport (e.g. on
``bleak``: scan for the device's advertisement, one GATT characteristic carrying the same JSON requests) is one
more file implementing :class:`DeviceTransport` and one row in :data:`TRANSPORTS`; nothing above it changes.

A session with a device starts with pairing: :meth:`DeviceTransport.request_pairing` makes the device show a code
on its own display, :meth:`DeviceTransport.pair` hands that code back for a pairing token, and
:meth:`DeviceTransport.connect` opens a :class:`DeviceSession` with the token. Errors are :class:`DeviceError`
with the device's own ``code`` and HTTP-like ``status`` (the app shows the device's words).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ml314.errors import TransportError

__all__ = ["TRANSPORTS", "DeviceError", "DeviceSession", "DeviceTransport", "FoundDevice"]


class DeviceError(TransportError):
    """The device refused a request (``status``, ``code`` and ``field`` are its own) or could not be reached
    (``status`` 502, ``code`` ``unreachable``)."""

    def __init__(
        self, message: str, status: int = 502, code: str = "unreachable", field: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.extra = extra


@dataclass(frozen=True, slots=True)
class FoundDevice:
    """A device a transport found: who it is (``serial``, ``name``), its network mode, and where (``address``
    is transport-specific: ``HOST:PORT`` for the local network, a BLE address for Bluetooth)."""

    serial: str
    name: str
    mode: str
    transport: str
    address: str
    model: str = "ML314-51.2-W08"


class DeviceSession(abc.ABC):
    """A paired connection to one device: the battery system and its network settings (JSON bodies of the
    device's local API)."""

    @abc.abstractmethod
    def status(self) -> dict[str, Any]:
        """The device's network status (mode, Wi-Fi network, AP, cloud link)."""

    @abc.abstractmethod
    def bank(self) -> dict[str, Any]:
        """The bank as its master presents it (``GET /api/bank`` of the device)."""

    @abc.abstractmethod
    def modules(self) -> list[Any]:
        """Every module, chain order."""

    @abc.abstractmethod
    def diagnostics(self) -> dict[str, Any]:
        """Chapter 12's findings now (``GET /api/diagnostics`` of the device)."""

    @abc.abstractmethod
    def set_network(self, change: dict[str, Any]) -> dict[str, Any]:
        """``{"mode": "sta", "ssid", "password"}`` or ``{"mode": "ap"}``; the device's new status."""

    def close(self) -> None:  # noqa: B027 - a transport may hold nothing to close
        """Release the connection."""


class DeviceTransport(abc.ABC):
    """One way of reaching devices nearby."""

    name: str = ""

    @abc.abstractmethod
    def discover(self, wait_s: float) -> list[FoundDevice]:
        """The devices that answer within ``wait_s`` seconds (scan or browse), each once."""

    @abc.abstractmethod
    def request_pairing(self, device: FoundDevice, client: str) -> dict[str, Any]:
        """Ask ``device`` to show a pairing code; ``{"request": ID, "expires_in_s": ...}``."""

    @abc.abstractmethod
    def pair(self, device: FoundDevice, request: str, code: str) -> str:
        """The pairing token for the code the device showed; DeviceError when refused."""

    @abc.abstractmethod
    def connect(self, device: FoundDevice, token: str) -> DeviceSession:
        """A session with ``device`` on the strength of ``token``."""

    def close(self) -> None:  # noqa: B027 - a transport may hold nothing to close
        """Stop browsing, release sockets."""


def _mdns(**options: Any) -> DeviceTransport:
    from ml314.adapters.mdns_transport import MdnsTransport  # noqa: PLC0415 - zeroconf loads only when used

    return MdnsTransport(**options)


#: transport name -> factory (a BLE transport would add "ble")
TRANSPORTS: dict[str, Callable[..., DeviceTransport]] = {"mdns": _mdns}
