"""The BMS parameter file on disk: loaded and validated; installed only with the device's technician PIN.

The PIN is the device's own (``identity.py``), never a field of the set, so a new set cannot bring its own PIN;
the new set must validate (consistency and the safety envelope) before anything is written; the file is replaced
atomically, the previous one kept as ``.bak``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ml314.bms.parameters import BmsParameters, default_parameters_text, parse_parameters
from ml314.errors import InputError
from ml314.storage.atomic import write_atomically
from ml314.storage.identity import PinGrant


def read_parameters_text(path: Path) -> str:
    """The text of the parameter file ``path``; :class:`InputError` if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such parameter file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc


def load_parameters(path: Path | None) -> BmsParameters:
    """The parameter set in ``path``, or the shipped default when ``path`` is None."""
    if path is None:
        return parse_parameters(default_parameters_text(), source="bms/data/default.toml")
    return parse_parameters(read_parameters_text(path), source=str(path))


def save_parameters(path: Path, text: str, grant: PinGrant, source: str = "") -> BmsParameters:
    """Validate ``text`` (named ``source`` in messages), then replace ``path`` (``grant``: the device's PIN was
    given); return the new set."""
    del grant  # its existence is the proof
    new = parse_parameters(text, source=source or str(path))
    path = Path(path)
    if path.exists():
        try:
            shutil.copy2(path, path.with_name(path.name + ".bak"))
        except OSError as exc:
            raise InputError(f"{path}: cannot keep a backup ({exc.strerror})") from None
    write_atomically(path, text)
    return new
