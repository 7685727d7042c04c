"""Local mode over the local network: devices announce themselves by mDNS / DNS-SD (``zeroconf``), the app browses
for them and talks to the device's local HTTP API (pairing, then a bearer token).

The announcement: service type :data:`SERVICE_TYPE`, instance ``Smart Battery-XXXX``, the address and port of the
device's web API, and TXT records ``serial``, ``name``, ``mode`` (its network mode, updated when it changes),
``model``, ``port`` (as in the SRV record, for tools that show only TXT) and ``path`` (the API's device resource).

Which interfaces: the ones the device's API listens on. ``--http 127.0.0.1:PORT`` (the default) announces and
browses on loopback only (IPv4 multicast with ``IP_MULTICAST_IF`` = 127.0.0.1: nothing leaves the machine), so
the app finds the devices of this computer; ``--http 0.0.0.0:PORT`` announces on every interface, so phones and
other computers of the LAN find it.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

import httpx
from zeroconf import InterfaceChoice as Interfaces
from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, ServiceListener, Zeroconf

from ml314.adapters.device_transport import DeviceError, DeviceSession, DeviceTransport, FoundDevice

__all__ = ["SERVICE_TYPE", "MdnsAnnouncer", "MdnsTransport", "interfaces_for"]

SERVICE_TYPE = "_ml314._tcp.local."
_TIMEOUT_S = 30.0  # an HTTP request the device does not answer by then fails (a guard, the device answers at once)


def interfaces_for(host: str) -> tuple[list[str] | Interfaces, IPVersion]:
    """The interfaces to announce and browse on for an API listening on ``host``."""
    if host in {"0.0.0.0", "::", ""}:
        return Interfaces.All, IPVersion.V4Only if host == "0.0.0.0" else IPVersion.All
    addr = ipaddress.ip_address(host)
    return [host], IPVersion.V4Only if addr.version == 4 else IPVersion.V6Only


def _zeroconf(host: str) -> Zeroconf:
    interfaces, version = interfaces_for(host)
    return Zeroconf(interfaces=interfaces, ip_version=version)


class MdnsAnnouncer:
    """Announces one device while it runs; :meth:`update` changes its TXT (the network mode); :meth:`close`
    says goodbye (the records expire at once in every browser)."""

    def __init__(self, serial: str, name: str, host: str, port: int, mode: str) -> None:
        self.zeroconf = _zeroconf(host)
        address = "127.0.0.1" if host in {"0.0.0.0", ""} else host
        if host in {"0.0.0.0", ""}:
            addresses = [socket.inet_aton(a) for a in _local_ipv4()] or [socket.inet_aton(address)]
        else:
            addresses = [ipaddress.ip_address(host).packed]
        self._base = {"serial": serial, "name": name, "model": "ML314-51.2-W08", "port": str(port)}
        self._base["path"] = "/api/device"
        self.info = ServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            port=port,
            properties={**self._base, "mode": mode},
            server=f"{serial.lower()}.local.",
            addresses=addresses,
        )
        self._lock = threading.Lock()
        self._registered = False
        self._mode = mode
        # registering probes the name first (about 1.5 s): on a thread, so the device's start does not wait
        self._thread = threading.Thread(target=self._register, name="mdns", daemon=True)
        self._thread.start()

    def _register(self) -> None:
        with self._lock:
            self.zeroconf.register_service(self.info, allow_name_change=True)
            self._registered = True
        if self._mode != _text(self.info.properties, "mode"):
            self.update(self._mode)

    def update(self, mode: str) -> None:
        """Announce the new network mode (at once if registered, else once the registration is done)."""
        with self._lock:
            self._mode = mode
            if not self._registered:
                return
            self.info = ServiceInfo(
                SERVICE_TYPE,
                self.info.name,
                port=self.info.port,
                properties={**self._base, "mode": mode},
                server=self.info.server,
                addresses=self.info.addresses,
            )
            self.zeroconf.update_service(self.info)

    def close(self) -> None:
        """Say goodbye and release the sockets (again: nothing)."""
        self._thread.join()
        with self._lock:
            try:
                if self._registered:
                    self._registered = False
                    self.zeroconf.unregister_service(self.info)
            finally:
                self.zeroconf.close()


def _local_ipv4() -> list[str]:
    try:
        return sorted({str(a[4][0]) for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)})
    except OSError:
        return []


class _Collector(ServiceListener):
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.changed = threading.Event()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.add(name)
        self.changed.set()

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.add(name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.discard(name)


def _text(props: dict[bytes, bytes | None], key: str) -> str:
    """A TXT record's value as text ("" when absent)."""
    value = props.get(key.encode())
    return "" if value is None else value.decode("utf-8", errors="replace")


class MdnsTransport(DeviceTransport):
    """Finds devices by mDNS on the interfaces of ``host`` (the address the app's own API listens on) and talks
    HTTP to them. The browser runs from the first :meth:`discover` until :meth:`close`, so later scans also list
    what it heard meanwhile."""

    name = "mdns"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._zeroconf: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None
        self._collector = _Collector()
        self._lock = threading.Lock()

    def _start(self) -> Zeroconf:
        with self._lock:
            if self._zeroconf is None:
                self._zeroconf = _zeroconf(self.host)
                self._browser = ServiceBrowser(self._zeroconf, SERVICE_TYPE, self._collector)
            return self._zeroconf

    def discover(self, wait_s: float) -> list[FoundDevice]:
        zc = self._start()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:  # a scan lasts wait_s: devices answer the browser's queries meanwhile
            self._collector.changed.wait(max(0.0, deadline - time.monotonic()))
            self._collector.changed.clear()
        found: dict[str, FoundDevice] = {}
        for name in sorted(self._collector.names):
            info = zc.get_service_info(SERVICE_TYPE, name, timeout=int(max(wait_s, 1.0) * 1000))
            if info is None or info.port is None:
                continue
            addresses = info.parsed_scoped_addresses()
            if not addresses:
                continue
            props = info.properties
            serial = _text(props, "serial")
            host = addresses[0]
            where = f"[{host}]:{info.port}" if ":" in host else f"{host}:{info.port}"
            found.setdefault(
                serial,
                FoundDevice(serial, _text(props, "name"), _text(props, "mode"), self.name, where,
                            _text(props, "model") or "ML314-51.2-W08"),
            )  # fmt: skip
        return list(found.values())

    def request_pairing(self, device: FoundDevice, client: str) -> dict[str, Any]:
        return dict(_call(device, "POST", "/api/device/pairing", None, {"client": client}))

    def pair(self, device: FoundDevice, request: str, code: str) -> str:
        body = _call(device, "POST", "/api/device/pair", None, {"request": request, "code": code})
        return str(body["token"])

    def connect(self, device: FoundDevice, token: str) -> DeviceSession:
        return _HttpSession(device, token)

    def close(self) -> None:
        with self._lock:
            if self._browser is not None:
                self._browser.cancel()
            if self._zeroconf is not None:
                self._zeroconf.close()
            self._zeroconf = self._browser = None


def _call(device: FoundDevice, method: str, path: str, token: str | None, body: Any = None) -> Any:
    """One request to the device's API; its JSON, or DeviceError with the device's own error."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=f"http://{device.address}", timeout=_TIMEOUT_S) as client:
            response = client.request(method, path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeviceError(f"device {device.serial} at {device.address} did not answer ({exc})") from None
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if response.is_success:
        return doc
    err = doc.get("error", {}) if isinstance(doc, dict) else {}
    extra = {"retry_after_s": err["retry_after_s"]} if "retry_after_s" in err else {}
    raise DeviceError(
        str(err.get("message") or f"HTTP {response.status_code}"),
        response.status_code,
        str(err.get("code") or "refused"),
        err.get("field"),
        **extra,
    )


class _HttpSession(DeviceSession):
    def __init__(self, device: FoundDevice, token: str) -> None:
        self.device = device
        self.token = token

    def status(self) -> dict[str, Any]:
        return dict(_call(self.device, "GET", "/api/device/network", self.token))

    def bank(self) -> dict[str, Any]:
        return dict(_call(self.device, "GET", "/api/bank", self.token))

    def modules(self) -> list[Any]:
        return list(_call(self.device, "GET", "/api/modules", self.token))

    def diagnostics(self) -> dict[str, Any]:
        return dict(_call(self.device, "GET", "/api/diagnostics", self.token))

    def set_network(self, change: dict[str, Any]) -> dict[str, Any]:
        return dict(_call(self.device, "PUT", "/api/device/network", self.token, change))
