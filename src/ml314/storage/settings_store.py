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

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ml314.domain.tree import Section
from ml314.errors import ConfigError, InputError
from ml314.protocols.base import Transport
from ml314.protocols.registry import Entry, resolve
from ml314.storage.atomic import write_atomically
from ml314.storage.identity import PinGrant

__all__ = [
    "DEFAULT_SETTINGS_PATH",
    "ProtocolSelection",
    "SettingsFile",
    "load_selection",
    "read_settings",
    "save_selection",
]

DEFAULT_SETTINGS_PATH = Path("ml314.toml")


@dataclass(frozen=True, slots=True)
class ProtocolSelection:
    """The protocol used on each port (as the LCD's Settings -> CAN / RS485 pages hold them)."""

    can: Entry
    rs485: Entry


DEFAULT_SELECTION = ProtocolSelection(can=resolve("pylon-can"), rs485=resolve("pylon-rs485"))


def _check(entry: Entry, transport: Transport, where: str) -> Entry:
    if entry.transport is not transport:
        raise ConfigError(f"{where} = {entry.name!r} is a {entry.transport.value} protocol")
    return entry


@dataclass(frozen=True)
class SettingsFile:
    """``ml314.toml`` read and checked once: the protocol selection, and the ``[run]`` and ``[simulate]`` tables
    (read field by field into the commands' configurations by :func:`ml314.domain.tree.read_dataclass`)."""

    selection: ProtocolSelection
    run: Section
    simulate: Section


def read_settings(path: Path) -> SettingsFile:
    """The settings in ``path`` (every section checked, unknown ones named with the nearest valid one); the
    defaults when the file does not exist."""
    data: dict[str, object] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    root = Section(data, "", f"{path}: ")
    table = root.section("protocols", default_empty=True)
    run = root.section("run", default_empty=True)
    simulate = root.section("simulate", default_empty=True)
    root.done()
    picked = {}
    for key, transport in (("can", Transport.CAN), ("rs485", Transport.RS485)):
        text = table.text(key, default="")
        if not text:
            picked[key] = getattr(DEFAULT_SELECTION, key)
            continue
        try:
            picked[key] = _check(resolve(text), transport, table.where(key))
        except InputError as exc:
            raise ConfigError(f"{table.where(key)}: {exc}") from None
    table.done()
    return SettingsFile(ProtocolSelection(can=picked["can"], rs485=picked["rs485"]), run, simulate)


def load_selection(path: Path) -> ProtocolSelection:
    """The selection in ``path``; the default (Pylon CAN, Pylon RS485) when the file does not exist."""
    return read_settings(path).selection


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
    ) + _other_tables(path)
    write_atomically(path, text)
    return new


def _other_tables(path: Path) -> str:
    """The file's text outside its [protocols] table and that table's comment (kept as written)."""
    if not path.exists():
        return ""
    kept: list[str] = []
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        head = line.strip()
        if head.startswith("["):
            inside = head.replace(" ", "") == "[protocols]"
        if not inside and not head.startswith("# ml314 working protocols"):
            kept.append(line)
    rest = "".join(kept).strip("\n")
    return "\n" + rest + "\n" if rest else ""


def _spelling(entry: Entry) -> str:
    return f"{entry.transport.value}:{entry.code}" if entry.code else entry.name
