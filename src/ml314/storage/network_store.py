"""The device's network settings in ``network.json`` of its data dir: the mode, the Wi-Fi credentials, the app
pairings and the AP password's lockout; kept across restarts.

The Wi-Fi passphrase is stored as is: the device must present it to the access point at every join, so it is a
machine credential like ``mqtt.json`` (mode 0600), and no API ever returns it. A pairing token is a random 256-bit
bearer secret the app holds; only its SHA-256 is kept (a fast hash is enough for a secret no one can guess).

The file is replaced atomically (``storage/atomic.py``), so a kill at any instant leaves the old settings or the
new ones. A missing file is a device whose network was never configured (``configured`` False).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml314.domain.network import NetworkMode, WifiCredentials
from ml314.errors import InputError
from ml314.storage.atomic import write_atomically

__all__ = ["MAX_PAIRINGS", "NETWORK_FILE", "NetworkState", "Pairing", "load_network", "save_network"]

NETWORK_FILE = "network.json"
FORMAT = "ml314.network"
VERSION = 1
#: the app pairings a device keeps (the oldest goes when a new one would exceed this)
MAX_PAIRINGS = 8


@dataclass(frozen=True, slots=True)
class Pairing:
    """One app paired with the device in local mode."""

    id: str
    name: str
    token_sha256: str
    created_s: float


@dataclass(frozen=True, slots=True)
class NetworkState:
    """What ``network.json`` holds (``configured``: whether the file exists)."""

    mode: NetworkMode
    wifi: WifiCredentials | None = None
    pairings: tuple[Pairing, ...] = field(default_factory=tuple)
    ap_failures: int = 0
    ap_locked_until_s: float = 0.0
    configured: bool = False


def path_in(directory: Path) -> Path:
    return Path(directory) / NETWORK_FILE


def load_network(directory: Path, default_mode: NetworkMode) -> NetworkState:
    """The settings in ``directory``; ``default_mode`` and nothing else when the file does not exist; InputError
    naming the file when it is damaged."""
    path = path_in(directory)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return NetworkState(default_mode)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None
    try:
        if doc["format"] != FORMAT or doc["version"] != VERSION:
            raise InputError(f"{path}: not an ml314 network file of version {VERSION}")
        wifi = doc["wifi"]
        return NetworkState(
            mode=NetworkMode(doc["mode"]),
            wifi=None if wifi is None else WifiCredentials(str(wifi["ssid"]), str(wifi["password"])),
            pairings=tuple(
                Pairing(str(p["id"]), str(p["name"]), str(p["token_sha256"]), float(p["created_s"]))
                for p in doc["pairings"]
            ),
            ap_failures=int(doc["ap_failures"]),
            ap_locked_until_s=float(doc["ap_locked_until_s"]),
            configured=True,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: field {exc} missing or malformed") from None


def save_network(directory: Path, state: NetworkState) -> NetworkState:
    """Store ``state`` (mode 0600: it holds the Wi-Fi passphrase); the state as stored (``configured``)."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "mode": state.mode.value,
        "wifi": None if state.wifi is None else {"ssid": state.wifi.ssid, "password": state.wifi.password},
        "pairings": [
            {"id": p.id, "name": p.name, "token_sha256": p.token_sha256, "created_s": p.created_s}
            for p in state.pairings[-MAX_PAIRINGS:]
        ],
        "ap_failures": state.ap_failures,
        "ap_locked_until_s": state.ap_locked_until_s,
    }
    write_atomically(path_in(directory), json.dumps(doc, indent=1) + "\n", mode=0o600)
    return NetworkState(
        state.mode, state.wifi, state.pairings[-MAX_PAIRINGS:], state.ap_failures, state.ap_locked_until_s, True
    )
