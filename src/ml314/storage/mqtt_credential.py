"""The device's own MQTT credential: username = its serial number, a random password drawn at first use.

Unlike the label's secrets (which people type, so only their hashes are kept), this password is a machine
credential the device itself presents to the broker at every connection, so it is kept in plain text in
``mqtt.json`` of the data dir (mode 0600), like a key file. The broker keeps only its hash (``ml314 broker-config``
reads it from the data dir, as a factory would provision it). 32 characters from a 62-letter alphabet carry about
190 bits: no guessing attack reaches it, which is why the broker's hash may use Mosquitto's fast default.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from ml314.errors import InputError
from ml314.storage.atomic import write_atomically

__all__ = ["MQTT_CREDENTIAL_FILE", "MqttCredential"]

MQTT_CREDENTIAL_FILE = "mqtt.json"
FORMAT = "ml314.mqtt-credential"
VERSION = 1
_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 32


@dataclass(frozen=True, slots=True)
class MqttCredential:
    """The username and password the device connects with."""

    username: str
    password: str

    def __repr__(self) -> str:  # never print the password by accident
        return f"MqttCredential(username={self.username!r}, password=<hidden>)"

    @staticmethod
    def path_in(directory: Path) -> Path:
        return Path(directory) / MQTT_CREDENTIAL_FILE

    @classmethod
    def open(cls, directory: Path, serial: str) -> MqttCredential:
        """The credential of the device ``serial`` in ``directory``, drawn and stored at first use."""
        path = cls.path_in(directory)
        if not path.exists():
            credential = MqttCredential(serial, "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH)))
            doc = {"format": FORMAT, "version": VERSION, "username": serial, "password": credential.password}
            write_atomically(path, json.dumps(doc, indent=1) + "\n", mode=0o600)
            return credential
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc["format"] != FORMAT or doc["version"] != VERSION:
                raise InputError(f"{path}: not an ml314 MQTT credential of version {VERSION}")
            credential = MqttCredential(str(doc["username"]), str(doc["password"]))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: cannot be read ({exc})") from None
        if credential.username != serial:
            raise InputError(f"{path}: the credential of device {credential.username}, not of {serial}")
        return credential
