"""The device's network modes (manual 11: local, Wi-Fi and AP mode) and the Wi-Fi credentials the app hands it.

* ``host``: no Wi-Fi configured and no AP to start in: the software device uses its host computer's network as it
  is (as if wired). What ``ml314 run`` always did; its MQTT link connects.
* ``sta``: "Wi-Fi mode": the device joined the 2.4 GHz network the app gave it (SSID + WPA2 passphrase) and its
  cloud link (MQTT) connects. No radio exists here: joining is simulated, the host's network stands in for it.
* ``ap``: "AP mode": the device's own network ``Smart Battery-XXXX``; its local API answers on its AP address,
  behind the device's AP password; the cloud link is down (the AP has no way to the Internet).

Local mode (Bluetooth on the product, mDNS + pairing here) is no network mode: it works in every mode.

Pure: values and their checks only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ml314.errors import InputError

__all__ = [
    "SSID_MAX_BYTES",
    "WPA2_MAX_CHARS",
    "WPA2_MIN_CHARS",
    "NetworkMode",
    "WifiCredentials",
    "ap_ssid",
]

#: IEEE 802.11: an SSID is 1..32 octets
SSID_MAX_BYTES = 32
#: IEEE 802.11i: a WPA2 passphrase is 8..63 printable ASCII characters
WPA2_MIN_CHARS = 8
WPA2_MAX_CHARS = 63


class NetworkMode(enum.Enum):
    HOST = "host"
    STA = "sta"
    AP = "ap"

    @property
    def label(self) -> str:
        """As the app and the status line name it."""
        return _LABELS[self]

    @property
    def cloud(self) -> bool:
        """Whether the cloud link (MQTT) may connect in this mode."""
        return self is not NetworkMode.AP


_LABELS = {
    NetworkMode.HOST: "host network (no Wi-Fi configured)",
    NetworkMode.STA: "Wi-Fi mode",
    NetworkMode.AP: "AP mode",
}


def ap_ssid(serial: str) -> str:
    """The device's own network: ``Smart Battery-XXXX``, XXXX the serial's last four characters (as on the label)."""
    return f"Smart Battery-{serial[-4:]}"


@dataclass(frozen=True, slots=True)
class WifiCredentials:
    """A 2.4 GHz network to join: its SSID and WPA2 passphrase (checked when made)."""

    ssid: str
    password: str

    def __post_init__(self) -> None:
        raw = self.ssid.encode("utf-8")
        if not 1 <= len(raw) <= SSID_MAX_BYTES:
            raise InputError(f"ssid: 1..{SSID_MAX_BYTES} bytes (UTF-8), {len(raw)} given")
        if any(ord(c) < 32 or ord(c) == 127 for c in self.ssid):
            raise InputError("ssid: control characters are not allowed")
        n = len(self.password)
        if not WPA2_MIN_CHARS <= n <= WPA2_MAX_CHARS:
            raise InputError(
                f"password: a WPA2 passphrase has {WPA2_MIN_CHARS}..{WPA2_MAX_CHARS} characters, {n} given"
            )
        if not all(32 <= ord(c) <= 126 for c in self.password):
            raise InputError("password: printable ASCII characters only (a WPA2 passphrase)")

    def __repr__(self) -> str:  # never print the password by accident
        return f"WifiCredentials(ssid={self.ssid!r}, password=<hidden>)"
