"""A Mosquitto configuration for a fleet: one account per device, per-device ACLs, service accounts.

``write_broker_config`` writes into one folder:

    mosquitto.conf    listener (TLS when a certificate is given), no anonymous access, persistence
    passwd            every account's PBKDF2-SHA512 hash in Mosquitto's own format (mode 0600)
    acl               what each account may read and write
    accounts.txt      the service accounts' generated passwords, the only plaintext (mode 0600)

Who may do what (``acl``):

* a **device** (username = its serial) writes only its own topics (``ml314/<serial>/{status,telemetry,...}`` and
  its Home Assistant discovery ``<prefix>/+/<serial>/#``), reads only its own commands and Home Assistant's birth
  message. A message it publishes anywhere else is dropped by the broker: no other subscriber sees it.
* the **cloud** account reads every device's topics (the workers subscribe with ``$share/ml314/...``) and may
  send commands.
* the **homeassistant** account (optional) reads every device's topics and the discovery prefix, sends commands
  and its birth message.

The hash is Mosquitto's ``$7$`` PBKDF2-SHA512 format (what ``mosquitto_passwd`` writes), so no Mosquitto tool is
needed to make it. It uses Mosquitto's default 101 iterations: every account's password here is a random
190-bit machine secret, out of reach of guessing at any iteration count, while a high count would cost the
single-threaded broker a CPU-heavy hash on every connection (a fleet reconnecting after a restart).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ml314.cloud.topics import DEVICE_WRITES, ROOT, check_serial, ha_status_topic
from ml314.errors import InputError

__all__ = [
    "BrokerFiles",
    "BrokerListener",
    "ServiceAccount",
    "mosquitto_hash",
    "parse_password_lines",
    "write_broker_config",
]

PBKDF2_ITERATIONS = 101  # Mosquitto 2.0's default (see the module docstring)
_SALT_BYTES = 12
_KEY_BYTES = 64
_ALPHABET = string.ascii_letters + string.digits
#: the roles of service accounts, each with its ACL lines (``{prefix}``: the Home Assistant discovery prefix)
SERVICE_ACL = {
    "cloud": (f"topic read {ROOT}/#", f"topic write {ROOT}/+/cmd/#"),
    "homeassistant": (
        f"topic read {ROOT}/#",
        f"topic write {ROOT}/+/cmd/#",
        "topic readwrite {prefix}/#",
    ),
}


def mosquitto_hash(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``password`` hashed as a line of Mosquitto's password file holds it (after ``username:``)."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _KEY_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def parse_password_lines(text: str, source: str) -> list[tuple[str, str]]:
    """``username:hash`` lines (a Mosquitto password file, e.g. from a factory's provisioning) as pairs."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, digest = line.partition(":")
        if not sep or not digest.startswith(("$6$", "$7$")):
            raise InputError(f"{source}:{n}: expected SERIAL:$7$... (a Mosquitto password-file line)")
        try:
            out.append((check_serial(user), digest))
        except InputError as exc:
            raise InputError(f"{source}:{n}: {exc}") from None
    return out


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A non-device account: ``role`` is a key of :data:`SERVICE_ACL`."""

    username: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in SERVICE_ACL:
            raise InputError(f"account role {self.role!r}: one of {', '.join(SERVICE_ACL)}")
        check_serial(self.username)


@dataclass(frozen=True, slots=True)
class BrokerListener:
    """Where the broker listens; with ``certfile`` and ``keyfile`` it speaks TLS (mqtts)."""

    host: str = "127.0.0.1"
    port: int = 1883
    certfile: Path | None = None
    keyfile: Path | None = None

    def __post_init__(self) -> None:
        if (self.certfile is None) != (self.keyfile is None):
            raise InputError("TLS needs both a certificate and its key (--tls-cert and --tls-key)")
        if not 0 < self.port < 65536:
            raise InputError(f"port {self.port}: must be 1..65535")


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """What :func:`write_broker_config` wrote, and the service accounts' passwords (also in ``accounts``)."""

    conf: Path
    passwd: Path
    acl: Path
    accounts: Path
    passwords: dict[str, str]
    devices: tuple[str, ...]


def acl_text(services: Sequence[ServiceAccount], discovery_prefix: str) -> str:
    """The ACL file: the service accounts by name, every device by the ``%u`` patterns."""
    lines = ["# generated by ml314 broker-config: who may read and write what (docs/mqtt.md)", ""]
    for account in services:
        lines.append(f"user {account.username}")
        lines += [rule.format(prefix=discovery_prefix) for rule in SERVICE_ACL[account.role]]
        lines.append("")
    lines.append("# every device: its username is its serial; it writes its own topics only")
    lines += [f"pattern write {ROOT}/%u/{suffix}" for suffix in DEVICE_WRITES]
    lines.append(f"pattern write {discovery_prefix}/+/%u/#")
    lines.append(f"pattern read {ROOT}/%u/cmd/#")
    lines.append(f"pattern read {ha_status_topic(discovery_prefix)}")
    return "\n".join(lines) + "\n"


def conf_text(listener: BrokerListener, folder: Path) -> str:
    lines = [
        "# generated by ml314 broker-config (docs/mqtt.md); run: mosquitto -c mosquitto.conf",
        "per_listener_settings false",
        f"listener {listener.port} {listener.host}",
    ]
    if listener.certfile is not None and listener.keyfile is not None:
        lines += [f"certfile {listener.certfile.resolve()}", f"keyfile {listener.keyfile.resolve()}"]
    lines += [
        "allow_anonymous false",
        f"password_file {folder / 'passwd'}",
        f"acl_file {folder / 'acl'}",
        "# sessions and queued QoS 1 messages survive a restart (the cloud workers' persistent sessions)",
        "persistence true",
        f"persistence_location {folder / 'data'}/",
        "max_queued_messages 100000",
        "# QoS 1 messages in flight per client (default 20): a cloud worker acknowledges a batch at once",
        "max_inflight_messages 1000",
    ]
    return "\n".join(lines) + "\n"


def write_broker_config(
    folder: Path,
    devices: Iterable[tuple[str, str]],
    services: Sequence[ServiceAccount] = (ServiceAccount("ml314-cloud", "cloud"),),
    listener: BrokerListener | None = None,
    discovery_prefix: str = "homeassistant",
) -> BrokerFiles:
    """Write the broker's files into ``folder`` (see the module docstring). ``devices`` are (serial, password hash)
    pairs; each service account gets a new random password."""
    listener = listener or BrokerListener()
    folder = Path(folder).resolve()
    device_list = list(devices)
    names = [s for s, _ in device_list] + [a.username for a in services]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"account {twice[0]!r} given twice")
    if not device_list:
        raise InputError("no device accounts: name at least one device (--device DATA_DIR or --devices FILE)")
    try:
        (folder / "data").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create ({exc.strerror})") from None
    passwords = {a.username: "".join(secrets.choice(_ALPHABET) for _ in range(32)) for a in services}
    entries = [*device_list, *((name, mosquitto_hash(pw)) for name, pw in passwords.items())]
    files = BrokerFiles(
        conf=folder / "mosquitto.conf",
        passwd=folder / "passwd",
        acl=folder / "acl",
        accounts=folder / "accounts.txt",
        passwords=passwords,
        devices=tuple(s for s, _ in device_list),
    )
    _write(files.passwd, "".join(f"{user}:{digest}\n" for user, digest in entries), 0o600)
    _write(files.acl, acl_text(services, discovery_prefix), 0o644)
    _write(files.conf, conf_text(listener, folder), 0o644)
    roles = {a.username: a.role for a in services}
    _write(files.accounts, "".join(f"{u} {roles[u]} {pw}\n" for u, pw in passwords.items()), 0o600)
    return files


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)
