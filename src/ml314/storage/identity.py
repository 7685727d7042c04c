"""The device's own identity and secrets: serial number, technician PIN, AP password and claim code.

No universal secret (ETSI EN 303 645 5.1, UK PSTI Schedule 1): at first start every device draws its own secrets
from :mod:`secrets` and keeps, in ``identity.json`` of its data dir, only their salted Argon2id hashes (argon2-cffi,
the OWASP minimum m = 19 MiB, t = 2, p = 1; ``ml314/secret_hash.py``, shared with the cloud's account passwords).
The plaintext exists in one place only: ``label.txt`` (mode 0600), the software form of the label printed on the
module's side; ``ml314 label`` shows it. Whoever can read the data dir holds the device, as whoever stands at the
module can read its label; a lost or leaked label is replaced by ``ml314 label --reset`` with the current PIN (new
PIN, AP password and claim code; the serial stays).

The serial number is an identifier, not a secret (the LCD and the protocols show it), so it is stored as is.

Wrong PINs are rate-limited: :data:`FREE_TRIES` tries, then each further wrong PIN locks the PIN check for
:data:`FIRST_LOCK_S` seconds, doubling per wrong PIN up to :data:`MAX_LOCK_S`. The count and the lock are in
``identity.json`` (wall-clock seconds), so a restart does not reset them; a right PIN does.

The manual's universal secrets (PIN 123456, manual 10.1.5; AP password 12345678, manual 11 "AP mode") are accepted
only while the device's ``legacy_secrets`` setting is on, which every status line then warns about.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ml314.errors import AccessDeniedError, InputError
from ml314.secret_hash import hash_secret, normal_claim_code
from ml314.secret_hash import lock_after as _lock_after
from ml314.secret_hash import verify_secret as _verify
from ml314.storage.atomic import write_atomically

__all__ = [
    "FIRST_LOCK_S",
    "FREE_TRIES",
    "LEGACY_AP_PASSWORD",
    "LEGACY_PIN",
    "MAX_LOCK_S",
    "DeviceIdentity",
    "DeviceLabel",
    "PinGrant",
    "lock_after",
]

FORMAT = "ml314.identity"
VERSION = 1
IDENTITY_FILE = "identity.json"
LABEL_FILE = "label.txt"
LEGACY_PIN = "123456"  # manual 10.1.5
LEGACY_AP_PASSWORD = "12345678"  # manual 11, AP mode
FREE_TRIES = 5
FIRST_LOCK_S = 30.0
MAX_LOCK_S = 86_400.0
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: nothing to misread on a label
_AP_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_SECRET_KINDS = ("pin", "ap_password", "claim_code")


def lock_after(failures: int) -> float:
    """Seconds the PIN check stays locked after the ``failures``-th wrong PIN in a row (0: not locked)."""
    return _lock_after(failures, FREE_TRIES, FIRST_LOCK_S, MAX_LOCK_S)


def _code(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass(frozen=True, slots=True)
class DeviceLabel:
    """The label page: the identity and the three secrets in plain text (shown, never stored but in label.txt)."""

    serial: str
    pin: str
    ap_password: str
    claim_code: str

    @staticmethod
    def draw(serial: str | None = None) -> DeviceLabel:
        """New random secrets (and a new serial unless one is given)."""
        return DeviceLabel(
            serial=serial or "ML314-" + _code(_CROCKFORD, 12),
            pin=f"{secrets.randbelow(10**8):08d}",  # 8 digits: the LCD keypad takes digits only
            ap_password=_code(_AP_ALPHABET, 16),
            claim_code="-".join(_code(_CROCKFORD, 4) for _ in range(4)),
        )

    def text(self) -> str:
        """The label page as printed."""
        return (
            "ML314-51.2-W08 device label (keep it like the label on the module: whoever reads it owns the device)\n"
            f"  serial number    {self.serial}\n"
            f"  technician PIN   {self.pin}\n"
            f"  Wi-Fi AP         Smart Battery-{self.serial[-4:]}  password {self.ap_password}\n"
            f"  claim code       {self.claim_code}\n"
        )


@dataclass(frozen=True, slots=True)
class PinGrant:
    """Proof that the technician PIN was given for device ``serial``; only :meth:`DeviceIdentity.check_pin` makes
    one, and every protected change (protocol, parameter set, label reset) asks for it."""

    serial: str
    legacy: bool


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """What ``identity.json`` holds: the serial, the secrets' hashes, the legacy setting and the PIN lockout."""

    directory: Path
    serial: str
    hashes: dict[str, str]
    legacy_secrets: bool = False
    pin_failures: int = 0
    locked_until_s: float = 0.0

    # ------------------------------------------------------------------ files
    @staticmethod
    def path_in(directory: Path) -> Path:
        return Path(directory) / IDENTITY_FILE

    @staticmethod
    def label_path_in(directory: Path) -> Path:
        return Path(directory) / LABEL_FILE

    @classmethod
    def exists(cls, directory: Path) -> bool:
        return cls.path_in(directory).exists()

    @classmethod
    def create(cls, directory: Path) -> tuple[DeviceIdentity, DeviceLabel]:
        """A new device in ``directory``: draw, hash and store its secrets, write its label; refuses to replace an
        existing identity."""
        if cls.exists(directory):
            raise InputError(f"{cls.path_in(directory)}: this data dir already has a device identity")
        label = DeviceLabel.draw()
        identity = DeviceIdentity(Path(directory), label.serial, _hash_all(label))
        identity._save()
        _write_label(directory, label)
        return identity, label

    @classmethod
    def load(cls, directory: Path) -> DeviceIdentity:
        """The identity stored in ``directory``; :class:`InputError` when missing or damaged."""
        path = cls.path_in(directory)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(
                f"{directory}: no device identity yet; `ml314 run` or `ml314 label` creates it at first start"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot be read ({exc})") from None
        try:
            if doc["format"] != FORMAT or doc["version"] != VERSION:
                raise InputError(f"{path}: not an ml314 identity file of version {VERSION}")
            hashes = {k: str(doc["hashes"][k]) for k in _SECRET_KINDS}
            return DeviceIdentity(
                Path(directory),
                str(doc["serial"]),
                hashes,
                bool(doc["legacy_secrets"]),
                int(doc["pin_failures"]),
                float(doc["locked_until_s"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: field {exc} missing or malformed") from None

    @classmethod
    def open(cls, directory: Path) -> tuple[DeviceIdentity, DeviceLabel | None]:
        """The identity of ``directory``, created at first start (then with its new label, to show once)."""
        if cls.exists(directory):
            return cls.load(directory), None
        return cls.create(directory)

    def _save(self) -> None:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "serial": self.serial,
            "hashes": self.hashes,
            "legacy_secrets": self.legacy_secrets,
            "pin_failures": self.pin_failures,
            "locked_until_s": self.locked_until_s,
        }
        write_atomically(self.path_in(self.directory), json.dumps(doc, indent=1) + "\n", mode=0o600)

    # ---------------------------------------------------------------- checks
    def check_pin(self, pin: str, now_s: float) -> PinGrant:
        """A grant if ``pin`` is this device's PIN (or the manual's 123456 while legacy secrets are on); else
        :class:`AccessDeniedError` saying how many tries are left or how long the check stays locked. ``now_s`` is
        wall-clock seconds (the lock survives a restart). Reads the stored count first, so separate processes
        share one count."""
        current = DeviceIdentity.load(self.directory)
        if now_s < current.locked_until_s:
            wait = math.ceil(current.locked_until_s - now_s)
            raise AccessDeniedError(f"too many wrong PINs: the PIN check is locked for {wait} s more")
        legacy = current.legacy_secrets and secrets.compare_digest(pin.encode(), LEGACY_PIN.encode())
        if legacy or _verify(current.hashes["pin"], pin):
            if current.pin_failures or current.locked_until_s:
                replace(current, pin_failures=0, locked_until_s=0.0)._save()
            return PinGrant(current.serial, legacy)
        failures = current.pin_failures + 1
        wait_s = lock_after(failures)
        replace(current, pin_failures=failures, locked_until_s=now_s + wait_s if wait_s else 0.0)._save()
        if wait_s:
            raise AccessDeniedError(f"wrong technician PIN; the PIN check is locked for {wait_s:.0f} s")
        left = FREE_TRIES - failures
        raise AccessDeniedError(f"wrong technician PIN ({left} {'try' if left == 1 else 'tries'} left before a lock)")

    def check_ap_password(self, password: str) -> bool:
        """Whether ``password`` opens the module's Wi-Fi AP (the manual's 12345678 only with legacy secrets on)."""
        if self.legacy_secrets and secrets.compare_digest(password.encode(), LEGACY_AP_PASSWORD.encode()):
            return True
        return _verify(self.hashes["ap_password"], password)

    def check_claim_code(self, code: str) -> bool:
        """Whether ``code`` is this device's claim code (dashes and case ignored)."""
        return _verify(self.hashes["claim_code"], normal_claim_code(code))

    # --------------------------------------------------------------- changes
    def with_legacy_secrets(self, on: bool) -> DeviceIdentity:
        """Switch the manual's universal secrets on or off (stored)."""
        current = DeviceIdentity.load(self.directory)
        new = replace(current, legacy_secrets=on)
        if new != current:
            new._save()
        return new

    def reset(self, grant: PinGrant) -> tuple[DeviceIdentity, DeviceLabel]:
        """New PIN, AP password and claim code (same serial), with proof of the current PIN; a new label."""
        if grant.serial != self.serial:
            raise AccessDeniedError("the PIN was checked for another device")
        label = DeviceLabel.draw(self.serial)
        new = replace(DeviceIdentity.load(self.directory), hashes=_hash_all(label), pin_failures=0, locked_until_s=0.0)
        new._save()
        _write_label(self.directory, label)
        return new, label

    def read_label(self) -> DeviceLabel:
        """The label page from ``label.txt``, checked against the stored hashes; :class:`InputError` if it is
        missing, readable by others, or not this device's."""
        path = self.label_path_in(self.directory)
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(
                f"{path}: the label is gone; issue new secrets with `ml314 label --reset --pin PIN`"
            ) from None
        except OSError as exc:
            raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
        if mode & 0o077:
            raise InputError(f"{path}: readable by others (mode {mode:o}); `chmod 600 {path}` first")
        label = _parse_label(text, path)
        if label.serial != self.serial or not _verify(self.hashes["pin"], label.pin):
            raise InputError(f"{path}: this label is not the one of device {self.serial}")
        return label


def _hash_all(label: DeviceLabel) -> dict[str, str]:
    return {
        "pin": hash_secret(label.pin),
        "ap_password": hash_secret(label.ap_password),
        "claim_code": hash_secret(normal_claim_code(label.claim_code)),
    }


def _write_label(directory: Path, label: DeviceLabel) -> None:
    write_atomically(DeviceIdentity.label_path_in(directory), label.text(), mode=0o600)


def _parse_label(text: str, path: Path) -> DeviceLabel:
    fields: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        words = line.split()
        if line.strip().startswith("serial number") and len(words) == 3:
            fields["serial"] = words[2]
        elif line.strip().startswith("technician PIN") and len(words) == 3:
            fields["pin"] = words[2]
        elif line.strip().startswith("Wi-Fi AP") and "password" in words:
            fields["ap_password"] = words[words.index("password") + 1]
        elif line.strip().startswith("claim code") and len(words) == 3:
            fields["claim_code"] = words[2]
    try:
        return DeviceLabel(fields["serial"], fields["pin"], fields["ap_password"], fields["claim_code"])
    except KeyError as exc:
        raise InputError(f"{path}: not a label page ({exc.args[0]} missing)") from None
