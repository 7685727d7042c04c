"""The data dir of one device (``ml314 run --data-dir``, default ``./ml314-data/``): what survives a restart.

    ml314-data/
      .lock             held by the running ``ml314 run`` (one battery per data dir)
      identity.json     serial, the secrets' Argon2id hashes, legacy setting, PIN lockout (identity.py)
      label.txt         the label page, the only plaintext of the secrets (mode 0600)
      bank.bms.json     the bank: BMS memory, event log, counters, battery state (bank_state.py, bms_store.py)
      bank.bms.json.bak the store before the last save
      parameters.toml   the installed BMS parameter set (absent: the shipped default)
      mqtt.json         the device's own MQTT credential (mode 0600; storage/mqtt_credential.py)
      mqtt-outbox.sqlite  telemetry and events waiting for the broker (cloud/outbox.py)
      network.json      network mode, Wi-Fi credentials, app pairings, AP lockout (mode 0600; network_store.py)

Every file is replaced atomically; a SIGKILL at any instant leaves each one old or new, never torn.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ml314.bms.parameters import BmsParameters, parse_parameters
from ml314.errors import InputError
from ml314.storage.bms_store import backup_path, bank_store_path
from ml314.storage.identity import DeviceIdentity, DeviceLabel
from ml314.storage.parameter_store import load_parameters, read_parameters_text, save_parameters

__all__ = ["DEFAULT_DATA_DIR", "ENV_DATA_DIR", "DataDir"]

DEFAULT_DATA_DIR = Path("ml314-data")
ENV_DATA_DIR = "ML314_DATA_DIR"  # the default of --data-dir when set (tests give each test its own)
PARAMETERS_FILE = "parameters.toml"
DISCARDED_SUFFIX = ".discarded"


class DataDir:
    """One device's data dir."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    def create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--data-dir {self.path}: cannot create ({exc.strerror})") from None
        if not os.access(self.path, os.W_OK):
            raise InputError(f"--data-dir {self.path}: not writable")

    # ------------------------------------------------------------------ lock
    def lock(self) -> None:
        """Hold the data dir for this process; :class:`InputError` if another ``ml314 run`` holds it."""
        self.create()
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise InputError(f"--data-dir {self.path}: in use by another ml314 run (one battery per dir)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    # -------------------------------------------------------------- contents
    @property
    def state_path(self) -> Path:
        """The bank's store."""
        return bank_store_path(self.path, "bank")

    def identity(self) -> tuple[DeviceIdentity, DeviceLabel | None]:
        """The device identity, created at first start (then with its label, to show once)."""
        self.create()
        return DeviceIdentity.open(self.path)

    def discard_state(self) -> list[Path]:
        """Start over: move the bank's store and its backup aside (``*.discarded``); return what was moved."""
        moved = []
        for path in (self.state_path, backup_path(self.state_path)):
            if path.exists():
                target = path.with_name(path.name + DISCARDED_SUFFIX)
                os.replace(path, target)
                moved.append(target)
        return moved

    @property
    def parameters_path(self) -> Path:
        """The installed parameter set (absent: the shipped default runs)."""
        return self.path / PARAMETERS_FILE

    def install_parameters(
        self, text: str, source: str, pin: str | None, now_s: float, *, no_pin: str
    ) -> BmsParameters:
        """Validate ``text`` (named ``source``: consistency and the safety envelope) before the PIN is asked for,
        then check the device's technician PIN and install the set; return it. The one path of ``--params`` and of
        every surface that installs a set. ``no_pin`` is the message when no PIN was given."""
        parse_parameters(text, source=source)
        if pin is None:
            raise InputError(no_pin)
        identity, _ = self.identity()
        grant = identity.check_pin(pin, now_s)
        return save_parameters(self.parameters_path, text, grant, source=source)

    def parameters(self, install: Path | None, pin: str | None, now_s: float) -> tuple[BmsParameters, str]:
        """The parameter set the BMS runs with and a line saying which. ``install``: a file to install first, which
        needs the device's technician PIN (a parameter file never carries one); it must pass validation and the
        safety envelope before it replaces the installed set."""
        installed = self.parameters_path
        if install is not None:
            text = read_parameters_text(install)  # unreadable: say so before asking for the PIN
            no_pin = f"--params {install}: installing a parameter set needs the device's PIN (--pin)"
            params = self.install_parameters(text, str(install), pin, now_s, no_pin=no_pin)
            return params, f"parameter set {params.name!r} from {install} installed in {installed}"
        if installed.exists():
            params = load_parameters(installed)
            return params, f"parameter set {params.name!r} from {installed}"
        return load_parameters(None), "the shipped parameter set"
