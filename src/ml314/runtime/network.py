"""The device's network side (manual 11) while ``ml314 run`` runs: its mode (host, Wi-Fi, AP), the app's pairing in
local mode, and the logins on its AP.

* **Mode.** :meth:`DeviceNetwork.change` switches to Wi-Fi mode with credentials (checked: SSID 1..32 bytes, WPA2
  passphrase 8..63 characters) or to AP mode; the mode and the credentials are stored (``storage/network_store.py``)
  and survive a restart. Listeners hear every change: the MQTT link connects in Wi-Fi (and host) mode and goes
  offline in AP mode; the AP listener answers only in AP mode. No radio exists: joining a Wi-Fi network is
  simulated (the host's network stands in for it) and said so in the status.
* **Pairing** (local mode; the product uses Bluetooth, here any :class:`~ml314.adapters.device_transport.
  DeviceTransport`): the app asks, the device draws a 6-digit code and shows it on its own display (the console of
  ``ml314 run``: whoever reads it stands at the device), the app sends the code back and receives a pairing token
  (256 random bits; only its SHA-256 is stored). A request expires after :data:`PAIRING_TTL_S` and dies after
  :data:`PAIRING_TRIES` wrong codes; wrong codes in a row over all requests lock pairing as wrong PINs lock the PIN
  check (5 free, then 30 s doubling; in memory: a restart, which a person at the device does, clears it).
* **AP login**: the device's own AP password (its Argon2id hash is in ``identity.json``; ``ml314 label`` prints
  it) opens an AP session of :data:`AP_SESSION_S`. Wrong passwords are rate-limited as wrong PINs are
  (``storage/identity.py``'s :func:`lock_after`: 5 tries, then 30 s doubling), the count kept across restarts.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ml314.domain.network import NetworkMode, WifiCredentials, ap_ssid
from ml314.errors import InputError
from ml314.runtime.surface import ConflictError, NotFoundError, PinRefusedError, PinRequiredError, SurfaceError
from ml314.storage.identity import DeviceIdentity, lock_after
from ml314.storage.network_store import NetworkState, Pairing, load_network, save_network

__all__ = [
    "AP_SESSION_S",
    "PAIRING_TRIES",
    "PAIRING_TTL_S",
    "DeviceNetwork",
    "NetworkChange",
    "RefusedError",
    "parse_change",
]

PAIRING_TTL_S = 120.0
PAIRING_TRIES = 5
#: pairing requests open at once (a flood of requests cannot fill the device's memory)
MAX_PENDING = 4
AP_SESSION_S = 12 * 3600.0
SIMULATED = "no radio here: joining a Wi-Fi network is simulated; the host's network stands in for it"


class RefusedError(PinRefusedError):
    """A secret refused (pairing code, pairing token, AP password), with its own ``code`` and ``field``; locked
    when ``retry_after_s`` > 0 (the web answers 403 with ``Retry-After``)."""

    def __init__(self, message: str, field: str, code: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message, retry_after_s)
        self.field = field
        self.code = code


@dataclass(frozen=True, slots=True)
class NetworkChange:
    """A requested mode: Wi-Fi mode with credentials, or AP mode."""

    mode: NetworkMode
    wifi: WifiCredentials | None = None


def parse_change(doc: Any) -> NetworkChange:
    """``{"mode": "ap"}`` or ``{"mode": "sta", "ssid": ..., "password": ...}`` (the body of the API and of the MQTT
    command alike); SurfaceError naming the field."""
    if not isinstance(doc, dict):
        raise SurfaceError('expected {"mode": "ap"} or {"mode": "sta", "ssid": SSID, "password": PASSPHRASE}', "mode")
    mode = doc.get("mode")
    if mode == "ap":
        return NetworkChange(NetworkMode.AP)
    if mode != "sta":
        raise SurfaceError(f"mode {mode!r}: 'sta' (Wi-Fi mode, with ssid and password) or 'ap'", "mode")
    ssid, password = doc.get("ssid"), doc.get("password")
    if not isinstance(ssid, str):
        raise SurfaceError("ssid: the 2.4 GHz network's name is required for Wi-Fi mode", "ssid")
    if not isinstance(password, str):
        raise SurfaceError("password: the network's WPA2 passphrase is required for Wi-Fi mode", "password")
    try:
        return NetworkChange(NetworkMode.STA, WifiCredentials(ssid, password))
    except InputError as exc:
        raise SurfaceError(str(exc), str(exc).split(":", 1)[0]) from None


@dataclass
class _PairingRequest:
    code: str
    client: str
    expires_s: float
    tries: int = 0


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DeviceNetwork:
    """The network side of one device (data dir ``data_dir``, serial ``serial``); ``ap_address`` the AP listener's
    URL (None: no ``--ap``, so the device cannot go into AP mode). Thread-safe."""

    def __init__(
        self,
        data_dir: Path,
        serial: str,
        *,
        ap_address: str | None = None,
        echo: Callable[[str], None] = print,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.serial = serial
        self.ap_address = ap_address
        self.echo = echo
        self.clock = clock
        # a device never configured starts as from the factory: in AP mode when it has an AP
        self.state: NetworkState = load_network(self.data_dir, NetworkMode.AP if ap_address else NetworkMode.HOST)
        if self.state.mode is NetworkMode.AP and ap_address is None:
            self.echo("ml314: warning: the stored network mode is AP mode but this run has no --ap: host network")
            self.state = replace(self.state, mode=NetworkMode.HOST)
        self.cloud: Callable[[], dict[str, Any]] = lambda: {"configured": False, "connected": False}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[NetworkMode], None]] = []
        self._pending: dict[str, _PairingRequest] = {}
        self._ap_sessions: dict[str, float] = {}
        self._pair_failures = 0  # wrong codes in a row over every request: past 5 the pairing locks (doubling)
        self._pair_locked_until_s = 0.0

    @property
    def mode(self) -> NetworkMode:
        return self.state.mode

    def subscribe(self, listener: Callable[[NetworkMode], None]) -> None:
        """Call ``listener`` with the mode now and after every change (on the changing thread: return at once)."""
        self._listeners.append(listener)
        listener(self.mode)

    def describe(self) -> str:
        """The line ``ml314 run`` prints at start (and the status the app shows, in short)."""
        s = self.state
        if s.mode is NetworkMode.STA and s.wifi is not None:
            return f"network: Wi-Fi mode, joined {s.wifi.ssid!r} (simulated: the host's network stands in for it)"
        if s.mode is NetworkMode.AP:
            return f"network: AP mode, {ap_ssid(self.serial)} on {self.ap_address} (AP password: `ml314 label`)"
        return "network: host network (no Wi-Fi configured; the app's STA sets one)"

    def status(self) -> dict[str, Any]:
        """What the app shows: mode, the Wi-Fi network (never its passphrase), the AP, the cloud link."""
        s = self.state
        return {
            "serial": self.serial,
            "mode": s.mode.value,
            "mode_label": s.mode.label,
            "ssid": None if s.wifi is None else s.wifi.ssid,
            "password_set": s.wifi is not None,
            "ap_ssid": ap_ssid(self.serial),
            "ap_available": self.ap_address is not None,
            "ap_address": self.ap_address,
            "cloud": self.cloud(),
            "configured": s.configured,
            "simulated": SIMULATED,
        }

    # ------------------------------------------------------------------------------------------------ changes
    def change(self, change: NetworkChange, *, via: str) -> dict[str, Any]:
        """Switch to ``change``'s mode (stored first, then the listeners hear it); the new status. ``via`` names
        who asked, for the device's log line."""
        if change.mode is NetworkMode.AP and self.ap_address is None:
            raise ConflictError("this device has no AP: start `ml314 run` with --ap HOST:PORT", "mode")
        with self._lock:
            wifi = change.wifi if change.wifi is not None else self.state.wifi
            self.state = save_network(self.data_dir, replace(self.state, mode=change.mode, wifi=wifi))
        self.echo(f"{self.describe()} (asked {via})")
        for listener in self._listeners:
            try:
                listener(change.mode)
            except Exception as exc:  # a listener's fault must not undo the change
                self.echo(f"ml314: warning: the network change was not applied everywhere: {exc}")
        return self.status()

    # ------------------------------------------------------------------------------------------------ pairing
    def request_pairing(self, client: str) -> dict[str, Any]:
        """Open a pairing request of ``client`` (the app's name for itself): the device shows a fresh code."""
        now = self.clock()
        name = "".join(c for c in client if c.isprintable())[:40] or "an app"
        with self._lock:
            self._pending = {k: r for k, r in self._pending.items() if r.expires_s > now}
            if len(self._pending) >= MAX_PENDING:
                raise ConflictError(f"{MAX_PENDING} pairing requests are open already: wait for them to expire")
            request_id = secrets.token_hex(6)
            code = f"{secrets.randbelow(10**6):06d}"
            self._pending[request_id] = _PairingRequest(code, name, now + PAIRING_TTL_S)
        self.echo(f"pairing: {name!r} asks to pair: code {code[:3]} {code[3:]} (valid {PAIRING_TTL_S:.0f} s)")
        return {"request": request_id, "expires_in_s": PAIRING_TTL_S, "shown_on": "the device's display"}

    def pair(self, request_id: str, code: str) -> dict[str, Any]:
        """The pairing token for the right code of an open request (shown once; the device keeps its hash)."""
        now = self.clock()
        with self._lock:
            if now < self._pair_locked_until_s:
                wait = math.ceil(self._pair_locked_until_s - now)
                raise RefusedError(f"too many wrong pairing codes: locked for {wait} s more", "code", "pairing_locked",
                                   wait)  # fmt: skip
            request = self._pending.get(request_id)
            if request is None or request.expires_s <= now:
                self._pending.pop(request_id, None)
                raise NotFoundError("no such pairing request (expired?): ask for a new code", "request")
            if not secrets.compare_digest(code.replace(" ", "").encode(), request.code.encode()):
                request.tries += 1
                self._pair_failures += 1
                wait_s = lock_after(self._pair_failures)
                self._pair_locked_until_s = now + wait_s if wait_s else 0.0
                left = PAIRING_TRIES - request.tries
                if left <= 0:
                    del self._pending[request_id]
                    raise RefusedError("wrong pairing code; the request is cancelled: ask for a new code", "code",
                                       "pairing_cancelled")  # fmt: skip
                raise RefusedError(f"wrong pairing code ({left} {'try' if left == 1 else 'tries'} left)", "code",
                                   "pairing_code_wrong")  # fmt: skip
            del self._pending[request_id]
            self._pair_failures, self._pair_locked_until_s = 0, 0.0
            token = secrets.token_urlsafe(32)
            pairing = Pairing(secrets.token_hex(4), request.client, _sha(token), now)
            self.state = save_network(self.data_dir, replace(self.state, pairings=(*self.state.pairings, pairing)))
        self.echo(f"pairing: {request.client!r} paired (pairing {pairing.id})")
        return {"token": token, "pairing": pairing.id, "serial": self.serial}

    def paired(self, token: str | None) -> bool:
        """Whether ``token`` is the token of a pairing this device keeps."""
        if not token:
            return False
        digest = _sha(token)
        return any(secrets.compare_digest(digest, p.token_sha256) for p in self.state.pairings)

    def authorize(self, token: str | None, pin: str | None, grant: Callable[[str | None], object]) -> None:
        """A network change is allowed with a pairing token, or else the technician PIN (``grant`` checks it, with
        its lockout); PinRequiredError when neither is given, RefusedError for a token this device does not know."""
        if token:
            if self.paired(token):
                return
            raise RefusedError("this pairing token is not known to the device: pair again", "token", "token_wrong")
        if not pin:
            raise PinRequiredError("this change needs a pairing token (pair in the app) or the technician PIN", "pin")
        grant(pin)

    # ------------------------------------------------------------------------------------------------ the AP
    def ap_login(self, password: str) -> str:
        """An AP session token for the device's AP password; RefusedError (rate-limited) otherwise."""
        now = self.clock()
        with self._lock:
            state = self.state
            if now < state.ap_locked_until_s:
                wait = math.ceil(state.ap_locked_until_s - now)
                raise RefusedError(f"too many wrong AP passwords: locked for {wait} s more", "password", "ap_locked",
                                   wait)  # fmt: skip
            if DeviceIdentity.load(self.data_dir).check_ap_password(password):
                if state.ap_failures or state.ap_locked_until_s:
                    self.state = save_network(self.data_dir, replace(state, ap_failures=0, ap_locked_until_s=0.0))
                token = secrets.token_urlsafe(32)
                self._ap_sessions = {k: t for k, t in self._ap_sessions.items() if t > now}
                self._ap_sessions[_sha(token)] = now + AP_SESSION_S
                return token
            failures = state.ap_failures + 1
            wait_s = lock_after(failures)
            self.state = save_network(
                self.data_dir, replace(state, ap_failures=failures, ap_locked_until_s=now + wait_s if wait_s else 0.0)
            )
        if wait_s:
            raise RefusedError(f"wrong AP password; locked for {wait_s:.0f} s", "password", "ap_locked", wait_s)
        raise RefusedError("wrong AP password (the label's, `ml314 label`)", "password", "ap_password_wrong")

    def ap_session(self, token: str | None) -> bool:
        """Whether ``token`` is an AP session that has not expired."""
        if not token:
            return False
        with contextlib.suppress(KeyError):
            return self._ap_sessions[_sha(token)] > self.clock()
        return False
