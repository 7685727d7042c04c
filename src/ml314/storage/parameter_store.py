"""The BMS parameter file on disk: loaded and validated; replaced only with the technician PIN.

The PIN is checked against the set in force (not the new one, which could carry any PIN hash); the new set must
validate before anything is written; the file is replaced atomically, the previous one kept as ``.bak``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ml314.bms.parameters import BmsParameters, default_parameters_text, parse_parameters
from ml314.errors import InputError


def load_parameters(path: Path | None) -> BmsParameters:
    """The parameter set in ``path``, or the shipped default when ``path`` is None."""
    if path is None:
        return parse_parameters(default_parameters_text(), source="bms/data/default.toml")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such parameter file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    return parse_parameters(text, source=str(path))


def save_parameters(path: Path, text: str, pin: str, current: BmsParameters) -> BmsParameters:
    """Validate ``text``, check ``pin`` against ``current``, then replace ``path``; return the new set."""
    new = parse_parameters(text, source=str(path))
    current.check_pin(pin)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    os.replace(tmp, path)
    return new
