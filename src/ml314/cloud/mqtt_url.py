"""``--mqtt URL``: where the device publishes and how, in one string.

    mqtt://HOST:PORT                 plain MQTT (loopback and a trusted LAN only)
    mqtts://HOST:PORT                MQTT over TLS, the system's CA certificates
    mqtts://HOST:PORT?ca=FILE        ... trusting the CA in FILE (a private broker's own CA)
    mqtt://USER:PASSWORD@HOST:PORT   another account than the device's own (e.g. a Home Assistant broker's user)

Query options: ``interval=5s`` (one telemetry sample per interval, default 5 s), ``discovery=homeassistant`` (the
discovery prefix; ``off``: no Home Assistant discovery), ``buffer=100000`` (samples the disk buffer holds before it
summarises the oldest), ``keepalive=30s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ml314.domain.durations import parse_duration_s
from ml314.errors import InputError

__all__ = ["MqttTarget", "parse_mqtt_url"]

_PORTS = {"mqtt": 1883, "mqtts": 8883}
_OPTIONS = ("ca", "interval", "discovery", "buffer", "keepalive")


@dataclass(frozen=True, slots=True)
class MqttTarget:
    """A parsed ``--mqtt`` URL."""

    host: str
    port: int
    tls: bool
    ca: Path | None = None
    username: str | None = None  # None: the device's own credential
    password: str | None = None
    interval_s: float = 5.0
    discovery_prefix: str | None = "homeassistant"
    buffer_samples: int = 100_000
    keepalive_s: int = 30

    def __repr__(self) -> str:
        return f"MqttTarget({self.where!r})"

    @property
    def where(self) -> str:
        """The URL without its password."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_mqtt_url(text: str) -> MqttTarget:
    """``text`` as a :class:`MqttTarget`; InputError naming ``--mqtt`` and what is wrong."""
    where = f"--mqtt {_hide_password(text)!r}"
    try:
        url = urlsplit(text.strip())
        port = url.port
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    if url.scheme not in _PORTS:
        raise InputError(f"{where}: mqtt://HOST:PORT or mqtts://HOST:PORT")
    if not url.hostname:
        raise InputError(f"{where}: no host (mqtt://HOST:PORT)")
    if url.path not in ("", "/"):
        raise InputError(f"{where}: no path expected after HOST:PORT")
    query = parse_qs(url.query, keep_blank_values=True)
    unknown = sorted(set(query) - set(_OPTIONS))
    if unknown:
        raise InputError(f"{where}: unknown option {unknown[0]!r} (one of {', '.join(_OPTIONS)})")
    one = {k: v[-1] for k, v in query.items()}
    tls = url.scheme == "mqtts"
    ca = Path(one["ca"]) if one.get("ca") else None
    if ca is not None and not tls:
        raise InputError(f"{where}: ca= needs mqtts://")
    if ca is not None and not ca.is_file():
        raise InputError(f"{where}: ca={ca}: no such file")
    interval_s = parse_duration_s(one["interval"], "--mqtt interval") if "interval" in one else 5.0
    if not (math.isfinite(interval_s) and 0.05 <= interval_s <= 3600.0):
        raise InputError(f"{where}: interval {interval_s:g} s: must be 0.05 s .. 1 h")
    keepalive_s = parse_duration_s(one["keepalive"], "--mqtt keepalive") if "keepalive" in one else 30.0
    if not 5.0 <= keepalive_s <= 3600.0:
        raise InputError(f"{where}: keepalive {keepalive_s:g} s: must be 5 s .. 1 h")
    discovery = one.get("discovery", "homeassistant")
    if discovery.lower() == "off":
        prefix: str | None = None
    elif discovery and all(c.isalnum() or c in "_-" for c in discovery):
        prefix = discovery
    else:
        raise InputError(f"{where}: discovery={discovery!r}: a topic prefix (letters, digits, - _) or off")
    buffer_text = one.get("buffer", "100000")
    if not buffer_text.isdigit() or not 10 <= int(buffer_text) <= 10_000_000:
        raise InputError(f"{where}: buffer={buffer_text!r}: samples, 10 .. 10000000")
    return MqttTarget(
        host=url.hostname,
        port=port or _PORTS[url.scheme],
        tls=tls,
        ca=ca,
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password is not None else None,
        interval_s=interval_s,
        discovery_prefix=prefix,
        buffer_samples=int(buffer_text),
        keepalive_s=round(keepalive_s),
    )


def _hide_password(text: str) -> str:
    head, at, tail = text.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return text
    scheme, _, userinfo = head.partition("//")
    return f"{scheme}//{userinfo.split(':', 1)[0]}:***@{tail}"
