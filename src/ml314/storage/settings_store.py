"""The battery's working-protocol selection (manual 10.1.5), kept in a small TOML settings file.

As on the product, a change needs the device's technician PIN (a :class:`PinGrant` from its identity) and takes
effect at the next start: ``ml314 run`` reads the
file once when it starts, and ``ml314 protocols set`` only writes it. The file is validated when read (unknown keys
are refused with the nearest valid key suggested) and replaced atomically when written.

    [protocols]
    can = "CAN:P14"          # any spelling ``ml314 protocols`` accepts
    rs485 = "pylon-rs485"
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ml314.errors import ConfigError, InputError
from ml314.protocols.base import Transport
from ml314.protocols.registry import Entry, resolve
from ml314.storage.atomic import write_atomically
from ml314.storage.identity import PinGrant

__all__ = ["DEFAULT_SETTINGS_PATH", "ProtocolSelection", "load_selection", "save_selection"]

DEFAULT_SETTINGS_PATH = Path("ml314.toml")
_KEYS = {"protocols": ("can", "rs485")}


@dataclass(frozen=True, slots=True)
class ProtocolSelection:
    """The protocol used on each port (as the LCD's Settings -> CAN / RS485 pages hold them)."""

    can: Entry
    rs485: Entry


DEFAULT_SELECTION = ProtocolSelection(can=resolve("pylon-can"), rs485=resolve("pylon-rs485"))


def _check(entry: Entry, transport: Transport, key: str, path: Path) -> Entry:
    if entry.transport is not transport:
        raise ConfigError(f"{path}: protocols.{key} = {entry.name!r} is a {entry.transport.value} protocol")
    return entry


def _suggest(key: str, valid: tuple[str, ...]) -> str:
    near = difflib.get_close_matches(key, valid, n=1)
    return f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(valid)}"


def load_selection(path: Path) -> ProtocolSelection:
    """The selection in ``path``; the default (Pylon CAN, Pylon RS485) when the file does not exist."""
    if not path.exists():
        return DEFAULT_SELECTION
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for section in data:
        if section not in _KEYS:
            raise ConfigError(f"{path}: unknown section [{section}]{_suggest(section, tuple(_KEYS))}")
    table = data.get("protocols", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [protocols] must be a table")
    for key, value in table.items():
        if key not in _KEYS["protocols"]:
            raise ConfigError(f"{path}: unknown key protocols.{key}{_suggest(key, _KEYS['protocols'])}")
        if not isinstance(value, str):
            raise ConfigError(f'{path}: protocols.{key} must be a string such as "CAN:P14"')
    try:
        can = resolve(table["can"]) if "can" in table else DEFAULT_SELECTION.can
        rs485 = resolve(table["rs485"]) if "rs485" in table else DEFAULT_SELECTION.rs485
    except InputError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return ProtocolSelection(
        can=_check(can, Transport.CAN, "can", path), rs485=_check(rs485, Transport.RS485, "rs485", path)
    )


def save_selection(path: Path, entry: Entry, grant: PinGrant) -> ProtocolSelection:
    """Select ``entry`` for its port (``grant``: the device's PIN was given); effective at the next start."""
    del grant  # its existence is the proof
    current = load_selection(path)
    if entry.transport is Transport.CAN:
        new = ProtocolSelection(can=entry, rs485=current.rs485)
    else:
        new = ProtocolSelection(can=current.can, rs485=entry)
    text = (
        "# ml314 working protocols (manual 10.1.5); changed with `ml314 protocols set`, read at start\n"
        "[protocols]\n"
        f'can = "{_spelling(new.can)}"\n'
        f'rs485 = "{_spelling(new.rs485)}"\n'
    )
    write_atomically(path, text)
    return new


def _spelling(entry: Entry) -> str:
    return f"{entry.transport.value}:{entry.code}" if entry.code else entry.name
